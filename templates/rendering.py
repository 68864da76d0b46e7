"""Rendering email templates: Jinja2's immutable sandbox, HTML autoescaping, compiled once per
template version and part, with limits on output size, render time and what one expression
may build.

- The sandbox refuses attributes starting with ``_`` (``__class__``, ``__globals__``), unsafe
  ``str.format`` use and changing objects; templates only ever see plain dicts, lists, strings,
  numbers and dates (``templates.context``), never a model instance.
- ``*`` and ``**`` are intercepted: a string or list repeated into more than
  ``MAX_OUTPUT_CHARS`` characters or items, or a power over ``MAX_EXPONENT``, is refused before it
  is built; ``range`` is capped at ``MAX_RANGE`` items.
- ``+``, ``~`` and the filters that multiply their input (``center``, ``indent``, ``replace``,
  ``join``, ``wordwrap``, ``format``, ``batch``, ``slice``) refuse a value longer than
  ``MAX_OUTPUT_CHARS``; integers stay under ``MAX_INT_BITS`` bits.
- Only macros, ``range`` and the ``loop`` helpers may be called: no methods (``'x'.ljust(10**9)``,
  ``'{:>999999999}'.format(1)``, ``dict.update``).
- Output is produced in chunks (at most ``OUTPUT_GROUP`` pieces each) and checked as it grows:
  over ``MAX_OUTPUT_CHARS`` characters or ``MAX_RENDER_SECONDS`` seconds the render stops with
  ``RenderLimitExceeded``. The time limit is also checked on every loop iteration and every call,
  so loops and macro recursion that print nothing stop too.

Speed (``tests/benchmarks/bench_templates.py``): the code generator joins the pieces of an output
run into one chunk instead of a ``yield`` each and escapes plain strings without building
``Markup`` objects; the default date patterns skip ``strftime``; the context is built without
walking a ``ChainMap``. None of it changes a limit or what is escaped.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from types import MethodType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import markupsafe
from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.compiler import CodeGenerator
from jinja2.runtime import BlockReference, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import escape

# The C function markupsafe.escape itself uses, without building a Markup object (another
# markupsafe version may not have it: then escape() itself).
_escape_str: Callable[[str], str] = getattr(markupsafe, "_escape_inner", None) or (lambda text: str(escape(text)))

MAX_OUTPUT_CHARS = 500_000
MAX_RENDER_SECONDS = 0.5
MAX_RANGE = 10_000
MAX_EXPONENT = 100
MAX_INT_BITS = 1024  # far beyond any amount or count an email shows
TIME_CHECK_EVERY = 64  # output chunks between clock readings (loops and calls read it always)
OUTPUT_GROUP = 8  # pieces of text and values joined into one output chunk
COMPILED_CACHE_SIZE = 2048


class RenderError(Exception):
    """A template could not be rendered; the message is safe to show (it never holds values)."""


class RenderLimitExceeded(RenderError):
    pass


# The deadline of the render in progress (``render_compiled`` sets it), read by the loop guard
# and by calls, which may run for long without producing output.
_deadline: ContextVar[float] = ContextVar("template_render_deadline", default=math.inf)
_LOOP_GUARD = "_sealpost_loop_guard"
_SIZE_GUARD = "_sealpost_size_guard"
_LOOP_ATTRIBUTES = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0"}
    | {"previtem", "nextitem", "cycle", "changed"}
)


def _check_size(value: Any) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"A value would be longer than {MAX_OUTPUT_CHARS:,} characters or items.")
    return value


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    deadline = _deadline.get()
    for item in iterable:
        if time.monotonic() > deadline:
            raise RenderLimitExceeded(f"Rendering took longer than {MAX_RENDER_SECONDS} seconds.")
        yield item


def _too_big(value: Any, times: Any) -> bool:
    if isinstance(times, bool) or not isinstance(times, int):
        return False
    if isinstance(value, str | list | tuple):
        return len(value) * times > MAX_OUTPUT_CHARS
    return False


_LOOP_METHODS = frozenset({"cycle", "changed"})


def _callable_allowed(obj: Any) -> bool:
    kind = type(obj)
    if kind is MethodType:  # loop.cycle(...), loop.changed(...)
        return type(obj.__self__) is LoopContext and obj.__name__ in _LOOP_METHODS
    return obj is _safe_range or kind is Macro or kind is BlockReference or kind is LoopContext


def _output_escape(value: Any) -> str:
    """What autoescaped output goes through: ``markupsafe.escape`` (``&#34;``, ``&#39;``,
    ``Markup`` kept as is), with plain strings, the common case, escaped without the Markup
    wrapper (the output stream only joins them)."""
    kind = type(value)
    if kind is str:
        return _escape_str(value)
    if kind is int:
        return str(value)  # digits need no escaping
    return escape(value)


class _OutputJoin:
    """Stands in for a buffer in the code ``_CodeGenerator.visit_Output`` writes: the pieces of
    one ``Output`` node (text and the expressions between two tags) leave as one chunk,
    ``yield environment.output_join.extend((...))``, instead of a ``yield`` each."""

    extend = staticmethod("".join)

    @staticmethod
    def append(piece: str) -> str:
        return piece


class _CodeGenerator(CodeGenerator):
    def visit_Output(self, node: nodes.Output, frame: Any) -> None:
        if frame.buffer is not None or len(node.nodes) < 2:
            super().visit_Output(node, frame)
            return
        joined = frame.copy()
        joined.buffer = "yield environment.output_join"
        # At most OUTPUT_GROUP pieces a chunk: the size limit still sees the output every few
        # values, so one tag-free run of ``{{ big }}{{ big }}...`` cannot build it all first.
        for start in range(0, len(node.nodes), OUTPUT_GROUP):
            super().visit_Output(nodes.Output(node.nodes[start : start + OUTPUT_GROUP], lineno=node.lineno), joined)

    def _output_child_pre(self, node: nodes.Expr, frame: Any, finalize: Any) -> None:
        if frame.eval_ctx.autoescape and not frame.eval_ctx.volatile:
            self.write("environment.output_escape(")
            if finalize.src is not None:
                self.write(finalize.src)
            return
        super()._output_child_pre(node, frame, finalize)


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+"})
    code_generator_class = _CodeGenerator
    output_escape = staticmethod(_output_escape)
    output_join = _OutputJoin

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Merge values are plain dicts: a key wins over a dict method of the same name, so
        # ``event.items`` is the field, not ``dict.items``.
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        if type(obj) is LoopContext and attribute in _LOOP_ATTRIBUTES:
            return getattr(obj, attribute)  # the public loop helpers: skip the costly safety checks
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*" and (_too_big(left, right) or _too_big(right, left)):
            raise SecurityError("A repeated string or list would be too long.")
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError("The power is too large.")
        if operator in ("*", "**") and _int_too_big(operator, left, right):
            raise SecurityError(f"A number would have more than {MAX_INT_BITS} bits.")
        if (
            operator == "+"
            and isinstance(left, str | list | tuple)
            and isinstance(right, str | list | tuple)
            and len(left) + len(right) > MAX_OUTPUT_CHARS
        ):
            raise SecurityError(f"A value would be longer than {MAX_OUTPUT_CHARS:,} characters or items.")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() > _deadline.get():
            raise RenderLimitExceeded(f"Rendering took longer than {MAX_RENDER_SECONDS} seconds.")
        if not _callable_allowed(__obj):
            raise SecurityError("Only macros, range and the loop helpers may be called in a template.")
        if type(__obj) is MethodType or __obj is _safe_range:
            # range and the loop helpers take no Jinja context (nor the compiler's scope arguments)
            kwargs.pop("_loop_vars", None)
            kwargs.pop("_block_vars", None)
            return __obj(*args, **kwargs)
        return _check_size(__context.call(__obj, *args, **kwargs))

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        _guard_tree(source)
        return super()._generate(source, name, filename, defer_init)


def _guard(node: nodes.Node, guard: str) -> nodes.Filter:
    return nodes.Filter(node, guard, [], [], None, None, lineno=node.lineno)


def _guard_tree(tree: nodes.Template) -> None:
    """Every ``for`` iterates through ``_loop_guard`` (the time limit holds inside loops that
    print nothing) and every ``~`` result is size-checked."""
    for node in list(tree.find_all(nodes.Node)):
        for name, value in node.iter_fields():
            if isinstance(value, nodes.Concat):
                setattr(node, name, _guard(value, _SIZE_GUARD))
            elif isinstance(value, list):
                value[:] = [_guard(item, _SIZE_GUARD) if isinstance(item, nodes.Concat) else item for item in value]
        if isinstance(node, nodes.For):
            node.iter = _guard(node.iter, _LOOP_GUARD)


def _int_too_big(operator: str, left: Any, right: Any) -> bool:
    if not (isinstance(left, int) and isinstance(right, int)):
        return False
    if operator == "*":
        return left.bit_length() + right.bit_length() > MAX_INT_BITS
    return right > 0 and left.bit_length() * right > MAX_INT_BITS


def _safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(f"A range has at most {MAX_RANGE} items.")
    return numbers


def _zone(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


_DEFAULT_DATETIME = "%A %-d %B %Y at %-I:%M %p"
_DEFAULT_DATE = "%A %-d %B %Y"
# The C locale's names, as strftime gives them: the default patterns are built without strftime,
# which costs several microseconds a call (a render's most expensive step otherwise).
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _long_date(value: date) -> str:
    return f"{_DAY_NAMES[value.weekday()]} {value.day} {_MONTH_NAMES[value.month - 1]} {value.year}"


def _format_datetime(context: Any, value: Any, pattern: str = _DEFAULT_DATETIME) -> str:
    """A date-time in the recipient's time zone (``contact.time_zone``)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        local = value.astimezone(_zone((context.get("contact") or {}).get("time_zone")))
        if pattern == _DEFAULT_DATETIME:
            hour = local.hour % 12 or 12
            return f"{_long_date(local)} at {hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
        return local.strftime(pattern)
    if isinstance(value, date):
        return _long_date(value) if pattern == _DEFAULT_DATETIME else value.strftime(pattern.split(" at ")[0])
    return "" if value is None else str(value)


def _format_date(value: Any, pattern: str = _DEFAULT_DATE) -> str:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, date):
        return _long_date(value) if pattern == _DEFAULT_DATE else value.strftime(pattern)
    return "" if value is None else str(value)


_CENT = Decimal("0.01")
_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}


def _format_money(value: Any, currency: str = "USD") -> str:
    try:
        amount = (value if type(value) is Decimal else Decimal(str(value))).quantize(_CENT)
    except (InvalidOperation, ValueError):
        return "" if value is None else str(value)
    symbol = _CURRENCY_SYMBOLS.get(currency)
    if symbol is None:
        code = str(currency).upper()
        symbol = _CURRENCY_SYMBOLS.get(code) or f"{code} "
    text = f"{amount:,.2f}"
    if text[0] == "-":  # the sign goes before the symbol; a rounded -0.00 loses it
        return f"-{symbol}{text[1:]}" if amount else symbol + text[1:]
    return symbol + text


def _format_name(value: Any) -> str:
    """Names as people write them: each word capitalised, the rest kept (McDonald stays)."""
    text = "" if value is None else str(value).strip()
    return " ".join([word[:1].upper() + word[1:] for word in text.split()])


_FORMAT_WIDTHS = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d*)(?:\.(\*|\d*))?")


def _format_size(value: Any, *args: Any, **kwargs: Any) -> int:
    widths = [number for match in _FORMAT_WIDTHS.finditer(str(value)) for number in match.groups() if number]
    if "*" in widths:
        return MAX_OUTPUT_CHARS + 1  # widths taken from the arguments
    return len(str(value)) + sum(int(width) for width in widths)


def _wordwrap_size(
    environment: Any, s: Any, width: int = 79, break_long_words: bool = True, wrapstring: Any = None, *_: Any, **__: Any
) -> int:
    text = str(s)
    return len(text) + (len(text) // max(int(width), 1) + 1) * len(str(wrapstring or "\n"))


def _replace_size(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> int:
    text, old, new = str(s), str(old), str(new)
    found = text.count(old) if old else len(text) + 1
    return len(text) + min(found, count if count is not None and count >= 0 else found) * len(new)


def _indent_size(s: Any, width: Any = 4, *_: Any, **__: Any) -> int:
    text = str(s)
    return len(text) + (text.count("\n") + 1) * (len(width) if isinstance(width, str) else int(width))


# For each filter that can build more than it was given: an estimate of what it would build
# (characters or items), computed from its arguments before it runs.
_FILTER_SIZES: dict[str, Callable[..., int]] = {
    "center": lambda value, width=80, *_, **__: max(len(str(value)), int(width)),
    "indent": _indent_size,
    "replace": _replace_size,
    "wordwrap": _wordwrap_size,
    "format": _format_size,
    "batch": lambda value, linecount, *_, **__: int(linecount),
    "slice": lambda eval_ctx, value, slices, *_, **__: int(slices),  # an async variant: eval_ctx first
}


def _bounded_filter(name: str, original: Callable[..., Any], size: Callable[..., int]) -> Callable[..., Any]:
    @functools.wraps(original)  # keeps Jinja's pass_context/pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if size(*args, **kwargs) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"The {name} filter would build more than {MAX_OUTPUT_CHARS:,} characters or items.")
        return _check_size(original(*args, **kwargs))

    return bounded


def _bounded_join(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value)
        if len(items) * len(str(d)) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"The join filter would build more than {MAX_OUTPUT_CHARS:,} characters.")
        return _check_size(original(eval_ctx, items, d, attribute))

    return join


def _environment(*, autoescape: bool) -> _Sandbox:
    env = _Sandbox(autoescape=autoescape, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals = {"range": _safe_range}
    env.filters["datetime"] = _pass_context(_format_datetime)
    env.filters["date"] = _format_date
    env.filters["money"] = _format_money
    env.filters["name"] = _format_name
    for name, size in _FILTER_SIZES.items():
        env.filters[name] = _bounded_filter(name, env.filters[name], size)
    env.filters["join"] = _bounded_join(env.filters["join"])
    env.filters[_LOOP_GUARD] = _loop_guard
    env.filters[_SIZE_GUARD] = _check_size
    return env


def _pass_context(function: Callable[..., str]) -> Callable[..., str]:
    from jinja2 import pass_context

    return pass_context(function)


@cache
def html_environment() -> _Sandbox:
    return _environment(autoescape=True)


@cache
def text_environment() -> _Sandbox:
    return _environment(autoescape=False)


def analysis_environment() -> _Sandbox:
    """The environment templates are parsed with for analysis (same syntax and filters)."""
    return html_environment()


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def _compiled(key: tuple[str, str, str], source: str, html: bool) -> Template:
    environment = html_environment() if html else text_environment()
    return environment.from_string(source)


def compile_part(*, cache_key: tuple[str, str, str], source: str, html: bool) -> Template:
    """The compiled template for one part of one version (``cache_key``: version id, language,
    part). Compiled once per process; the source goes into the key too, so a draft edited in
    place is never served stale."""
    try:
        return _compiled(cache_key, source, html)
    except TemplateError as error:
        raise RenderError(f"The template does not compile: {error.message}") from None


def _new_context(template: Template, values: dict[str, Any]) -> Any:
    """What ``template.new_context(values)`` builds, without its slow walks over the template's
    ``ChainMap`` of globals (9 of a typical render's 50 microseconds): our templates are compiled
    without globals of their own, so the environment's are all there is."""
    environment = template.environment
    names = environment.globals
    return environment.context_class(environment, {**names, **values}, template.name, template.blocks, globals=names)


def render_compiled(template: Template, context: dict[str, Any]) -> str:
    """Render within the limits; ``RenderError`` for anything the template does wrong."""
    deadline = time.monotonic() + MAX_RENDER_SECONDS
    token = _deadline.set(deadline)
    size = 0
    chunks: list[str] = []
    try:
        for chunk in template.root_render_func(_new_context(template, context)):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise RenderLimitExceeded(f"The output is longer than {MAX_OUTPUT_CHARS:,} characters.")
            chunks.append(chunk)
            # Chunks come fast; loops and calls read the clock themselves.
            if not len(chunks) % TIME_CHECK_EVERY and time.monotonic() > deadline:
                raise RenderLimitExceeded(f"Rendering took longer than {MAX_RENDER_SECONDS} seconds.")
    except RenderError:
        raise
    except SecurityError as error:
        raise RenderError(f"Refused by the sandbox: {error}") from None
    except TemplateError as error:
        # Jinja's messages name the template's own expressions, not the values.
        raise RenderError(f"The template failed: {error.message}") from None
    except Exception as error:
        # Anything else the template's own code raises (TypeError, AttributeError from a filter
        # given the wrong kind of value, an assertion in one, RecursionError, MemoryError): a
        # template failure, never a server error. The type alone: messages can hold values.
        raise RenderError(f"The template failed: {type(error).__name__}.") from None
    finally:
        _deadline.reset(token)
    return "".join(chunks)


def render_source(source: str, context: dict[str, Any], *, html: bool) -> str:
    """Compile (uncached) and render: previews of unsaved drafts."""
    environment = html_environment() if html else text_environment()
    try:
        template = environment.from_string(source)
    except TemplateError as error:
        raise RenderError(f"The template does not compile: {error.message}") from None
    return render_compiled(template, context)
