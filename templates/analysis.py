"""Static analysis of template source: which merge fields it uses, and which of those are PHI.

The source is parsed (never run) and its syntax tree walked. Every reference must be a dotted
path to a known merge field (``contact.first_name``, ``attr.next_visit``), a name the template
assigned itself (a ``for`` loop variable, ``set``, a macro argument) or the loop helper ``loop``.
Refused, at save time, with a message naming the problem:

- a syntax error (with its line);
- an unknown field, or a bare root (``{{ contact }}`` would print the whole record);
- a field read with a computed key (``contact[name]``), which no analysis can follow;
- a template that assigns a root name (``{% set contact = ... %}``);
- what the renderer's sandbox would refuse anyway, so it is caught when saving rather than when
  sending: a name or attribute starting with ``_``, a call of anything but a macro, ``range``,
  ``caller`` or ``loop.cycle``/``loop.changed`` (no methods), and ``include``, ``import`` and
  ``extends`` (templates stand alone).

What it lists is exact for what it accepts: a field is reported if and only if the source
reads it (``templates/tests/test_analysis.py`` checks this over generated templates).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError, nodes

from templates.fields import LIST_FIELDS, ROOTS, MergeField
from templates.rendering import analysis_environment

_HELPERS = frozenset({"loop", "range", "caller", "true", "false", "none", "True", "False", "None"})


@dataclass(frozen=True)
class FieldProblem:
    part: str  # subject, preheader, html_body, text_body
    line: int
    message: str


@dataclass
class Analysis:
    fields: set[str] = field(default_factory=set)
    problems: list[FieldProblem] = field(default_factory=list)

    def phi_fields(self, catalogue: dict[str, MergeField]) -> list[str]:
        return sorted(name for name in self.fields if name in catalogue and catalogue[name].phi)


def _assigned_names(tree: nodes.Template) -> set[str]:
    names: set[str] = set()
    for node in tree.find_all((nodes.Name,)):
        if node.ctx in ("store", "param"):
            names.add(node.name)
    names.update(macro.name for macro in tree.find_all(nodes.Macro))
    return names


def _chain(node: nodes.Node) -> tuple[list[str], nodes.Name | None, bool]:
    """For ``a.b["c"].d``: (["a", "b", "c", "d"], the Name ``a``, whether every step was
    constant). Stops at anything that is not attribute or constant-key access."""
    parts: list[str] = []
    constant = True
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                parts.append(node.arg.value)
            else:
                constant = False
                parts.clear()
            node = node.node
        elif isinstance(node, nodes.Name):
            return [node.name, *reversed(parts)], node, constant
        else:
            return [], None, constant


def _references(node: nodes.Node) -> Iterator[tuple[nodes.Node, list[str], bool]]:
    """Each outermost attribute/item chain (or bare name) read in the tree, once."""
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
        if isinstance(node, nodes.Name) and node.ctx != "load":
            return
        path, name, constant = _chain(node)
        if name is not None:
            yield node, path, constant
            if isinstance(node, nodes.Getitem) and not constant:
                yield from _references(node.arg)
            return
    for child in node.iter_child_nodes():
        yield from _references(child)


_CALLABLE_NAMES = frozenset({"range", "caller", "loop"})
_LOOP_METHODS = frozenset({"cycle", "changed"})


def _sandbox_problems(part: str, tree: nodes.Template, macros: set[str]) -> Iterator[FieldProblem]:
    for statement in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        yield FieldProblem(
            part, statement.lineno, "Templates stand alone: include, import and extends are not available."
        )
    for access in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        name = ""
        if isinstance(access, nodes.Getattr):
            name = access.attr
        elif isinstance(access, nodes.Name):
            name = access.name
        elif isinstance(access, nodes.Getitem) and isinstance(access.arg, nodes.Const):
            name = str(access.arg.value)
        if name.startswith("_"):
            yield FieldProblem(part, access.lineno, f"Names starting with “_” are not available (“{name}”).")
    for call in tree.find_all(nodes.Call):
        target = call.node
        if isinstance(target, nodes.Name) and (target.name in macros or target.name in _CALLABLE_NAMES):
            continue
        if (
            isinstance(target, nodes.Getattr)
            and isinstance(target.node, nodes.Name)
            and target.node.name == "loop"
            and target.attr in _LOOP_METHODS
        ):
            continue
        yield FieldProblem(
            part, call.lineno, "Only macros, range(), caller() and loop.cycle()/loop.changed() can be called."
        )


def _longest_known(path: list[str], catalogue: dict[str, MergeField]) -> str | None:
    for length in range(len(path), 1, -1):
        name = ".".join(path[:length])
        if name in catalogue:
            return name
    return None


def analyse_source(part: str, source: str, catalogue: dict[str, MergeField]) -> Analysis:
    """The fields one part of a template reads, or its problems."""
    analysis = Analysis()
    try:
        tree = analysis_environment().parse(source)
    except TemplateSyntaxError as error:
        analysis.problems.append(FieldProblem(part, error.lineno or 0, f"Template syntax error: {error.message}"))
        return analysis
    assigned = _assigned_names(tree)
    for root in sorted(assigned & set(ROOTS)):
        analysis.problems.append(FieldProblem(part, 0, f"“{root}” is reserved for merge fields; use another name."))
    analysis.problems += _sandbox_problems(part, tree, {macro.name for macro in tree.find_all(nodes.Macro)})
    for node, path, constant in _references(tree):
        line = getattr(node, "lineno", 0) or 0
        root = path[0]
        if root in assigned or root in _HELPERS:
            continue
        if not constant:
            analysis.problems.append(
                FieldProblem(part, line, f"A field of “{root}” is read with a computed key; name the field instead.")
            )
            continue
        if root not in ROOTS:
            analysis.problems.append(FieldProblem(part, line, f"Unknown merge field “{'.'.join(path)}”."))
            continue
        known = _longest_known(path, catalogue)
        if known is None or (known != ".".join(path) and known not in LIST_FIELDS):
            label = ".".join(path) if len(path) > 1 else root
            message = (
                f"“{root}” on its own is not a field; use one such as {root}.{_example(root, catalogue)}."
                if len(path) == 1
                else f"Unknown merge field “{label}”."
            )
            analysis.problems.append(FieldProblem(part, line, message))
            continue
        analysis.fields.add(known)
    return analysis


def _example(root: str, catalogue: dict[str, MergeField]) -> str:
    for name in catalogue:
        if name.startswith(f"{root}."):
            return name.split(".", 1)[1]
    return "name"


def analyse_parts(parts: Iterable[tuple[str, str]], catalogue: dict[str, MergeField]) -> Analysis:
    """All parts of a template (every language) together."""
    total = Analysis()
    for part, source in parts:
        one = analyse_source(part, source, catalogue)
        total.fields |= one.fields
        total.problems += one.problems
    return total
