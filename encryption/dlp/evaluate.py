"""Score a classifier against a labelled corpus (``encryption/dlp/corpus/healthcare_emails.jsonl``).

Span matching is by overlap and type-agnostic within a family: a gold identifier span is found when
any predicted identifier span overlaps it, and a predicted identifier span is correct when it
overlaps any gold identifier span (the same rule, separately, for the health types). Levels are
compared exactly. A ratio with nothing to count (no gold spans, no predictions) is 1.0.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from encryption.dlp.findings import HEALTH_TYPES, IDENTIFIER_TYPES, LEVEL_PHI, LEVELS, Classification

IDENTIFIER_RECALL_GOAL = 0.97
IDENTIFIER_PRECISION_GOAL = 0.90
PHI_RECALL_GOAL = 0.99
ACCURACY_GOAL = 0.95
CONTEXT_CHARS = 25  # characters shown either side of an error span


@dataclass(frozen=True, slots=True)
class SpanError:
    record_id: str
    kind: str
    type: str
    start: int
    end: int
    text: str
    context: str


@dataclass(frozen=True, slots=True)
class LevelError:
    record_id: str
    kind: str
    gold: str
    predicted: str


@dataclass(slots=True)
class Tally:
    """Gold spans found (recall) and predicted spans correct (precision) for one family of types."""

    gold: int = 0
    found: int = 0
    predicted: int = 0
    correct: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0


@dataclass
class Report:
    messages: int = 0
    identifiers: Tally = field(default_factory=Tally)
    health: Tally = field(default_factory=Tally)
    by_gold_type: dict[str, Tally] = field(default_factory=dict)  # gold and found per gold type
    by_predicted_type: dict[str, Tally] = field(default_factory=dict)  # predicted and correct per predicted type
    level_correct: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=lambda: {g: dict.fromkeys(LEVELS, 0) for g in LEVELS})
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [messages, level correct]
    identifier_misses: list[SpanError] = field(default_factory=list)
    identifier_false_positives: list[SpanError] = field(default_factory=list)
    health_misses: list[SpanError] = field(default_factory=list)
    health_false_positives: list[SpanError] = field(default_factory=list)
    level_errors: list[LevelError] = field(default_factory=list)
    errors_per_message: Counter = field(default_factory=Counter)

    @property
    def accuracy(self) -> float:
        return self.level_correct / self.messages if self.messages else 1.0

    @property
    def phi_gold(self) -> int:
        return sum(self.confusion[LEVEL_PHI].values())

    @property
    def phi_recall(self) -> float:
        return self.confusion[LEVEL_PHI][LEVEL_PHI] / self.phi_gold if self.phi_gold else 1.0

    def goals(self) -> dict[str, tuple[float, float, bool]]:
        """name -> (value, goal, met), the targets of issue 9."""
        figures = {
            "identifier_recall": (self.identifiers.recall, IDENTIFIER_RECALL_GOAL),
            "identifier_precision": (self.identifiers.precision, IDENTIFIER_PRECISION_GOAL),
            "phi_recall": (self.phi_recall, PHI_RECALL_GOAL),
            "accuracy": (self.accuracy, ACCURACY_GOAL),
        }
        return {name: (value, goal, value >= goal) for name, (value, goal) in figures.items()}

    def worst_messages(self, count: int) -> list[tuple[str, int]]:
        return self.errors_per_message.most_common(count)

    def as_dict(self, show_errors: int = 10) -> dict:
        def tally(t: Tally) -> dict:
            return {**asdict(t), "recall": round(t.recall, 4), "precision": round(t.precision, 4)}

        return {
            "messages": self.messages,
            "identifiers": tally(self.identifiers),
            "health": tally(self.health),
            "accuracy": round(self.accuracy, 4),
            "phi_recall": round(self.phi_recall, 4),
            "goals": {k: {"value": round(v, 4), "goal": g, "met": m} for k, (v, g, m) in self.goals().items()},
            "confusion": self.confusion,
            "recall_by_type": {
                k: {"gold": t.gold, "found": t.found, "recall": round(t.recall, 4)}
                for k, t in sorted(self.by_gold_type.items())
            },
            "precision_by_type": {
                k: {"predicted": t.predicted, "correct": t.correct, "precision": round(t.precision, 4)}
                for k, t in sorted(self.by_predicted_type.items())
            },
            "accuracy_by_kind": {k: {"messages": n, "correct": c} for k, (n, c) in sorted(self.by_kind.items())},
            "identifier_misses": [asdict(e) for e in spread(self.identifier_misses, show_errors)],
            "identifier_false_positives": [asdict(e) for e in spread(self.identifier_false_positives, show_errors)],
            "health_misses": [asdict(e) for e in spread(self.health_misses, show_errors)],
            "health_false_positives": [asdict(e) for e in spread(self.health_false_positives, show_errors)],
            "level_errors": [asdict(e) for e in self.level_errors[:show_errors]],
            "worst_messages": [{"id": i, "errors": n} for i, n in self.worst_messages(show_errors)],
        }


def spread(errors: list[SpanError], count: int) -> list[SpanError]:
    """Up to ``count`` errors taken in turn from each type, so one common type does not hide the others."""
    by_type: dict[str, list[SpanError]] = {}
    for error in errors:
        by_type.setdefault(error.type, []).append(error)
    queues = [by_type[type_] for type_ in sorted(by_type, key=lambda t: -len(by_type[t]))]
    chosen: list[SpanError] = []
    for index in range(max((len(q) for q in queues), default=0)):
        chosen += [queue[index] for queue in queues if index < len(queue)]
        if len(chosen) >= count:
            break
    return chosen[:count]


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def load_records(path: Path | str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _error(record: dict, type_: str, start: int, end: int) -> SpanError:
    text = record["text"]
    before = text[max(0, start - CONTEXT_CHARS) : start]
    after = text[end : end + CONTEXT_CHARS]
    context = f"{before}[{text[start:end]}]{after}".replace("\n", " ")
    return SpanError(record["id"], record.get("kind", ""), type_, start, end, text[start:end], context)


def _score_family(
    record: dict,
    gold: list[tuple[str, int, int]],
    predicted: list[tuple[str, int, int]],
    report: Report,
    tally: Tally,
    misses: list[SpanError],
    false_positives: list[SpanError],
) -> int:
    errors = 0
    for type_, start, end in gold:
        found = any(overlaps((start, end), (s, e)) for _, s, e in predicted)
        per_type = report.by_gold_type.setdefault(type_, Tally())
        tally.gold += 1
        per_type.gold += 1
        if found:
            tally.found += 1
            per_type.found += 1
        else:
            misses.append(_error(record, type_, start, end))
            errors += 1
    for type_, start, end in predicted:
        correct = any(overlaps((start, end), (s, e)) for _, s, e in gold)
        per_type = report.by_predicted_type.setdefault(type_, Tally())
        tally.predicted += 1
        per_type.predicted += 1
        if correct:
            tally.correct += 1
            per_type.correct += 1
        else:
            false_positives.append(_error(record, type_, start, end))
            errors += 1
    return errors


def evaluate(classify: Callable[[str], Classification], records: Iterable[dict]) -> Report:
    """Run ``classify`` on every record's text and score it against the record's labels."""
    report = Report()
    for record in records:
        result = classify(record["text"])
        kind = record.get("kind", "")
        gold = [(f["type"], f["start"], f["end"]) for f in record["findings"]]
        predicted = [(f.type, f.start, f.end) for f in result.findings]
        errors = _score_family(
            record,
            [g for g in gold if g[0] in IDENTIFIER_TYPES],
            [p for p in predicted if p[0] in IDENTIFIER_TYPES],
            report,
            report.identifiers,
            report.identifier_misses,
            report.identifier_false_positives,
        )
        errors += _score_family(
            record,
            [g for g in gold if g[0] in HEALTH_TYPES],
            [p for p in predicted if p[0] in HEALTH_TYPES],
            report,
            report.health,
            report.health_misses,
            report.health_false_positives,
        )
        report.messages += 1
        counts = report.by_kind.setdefault(kind, [0, 0])
        counts[0] += 1
        report.confusion.setdefault(record["level"], dict.fromkeys(LEVELS, 0))
        report.confusion[record["level"]][result.level] = report.confusion[record["level"]].get(result.level, 0) + 1
        if result.level == record["level"]:
            report.level_correct += 1
            counts[1] += 1
        else:
            report.level_errors.append(LevelError(record["id"], kind, record["level"], result.level))
            errors += 1
        if errors:
            report.errors_per_message[record["id"]] = errors
    return report


def format_report(report: Report, *, show_errors: int = 10, source: str = "") -> str:
    """The human-readable summary ``manage.py dlp_evaluate`` prints."""
    lines = [f"DLP evaluation: {report.messages} messages{f' from {source}' if source else ''}", ""]

    def tally_line(name: str, t: Tally) -> str:
        return (f"{name:12} recall {t.recall:.3f} ({t.found}/{t.gold})   "
                f"precision {t.precision:.3f} ({t.correct}/{t.predicted})")  # fmt: skip

    lines.append(tally_line("Identifiers", report.identifiers))
    lines.append(tally_line("Health", report.health))
    phi_found = report.confusion[LEVEL_PHI][LEVEL_PHI]
    lines.append(
        f"{'Messages':12} accuracy {report.accuracy:.3f} ({report.level_correct}/{report.messages})   "
        f"phi recall {report.phi_recall:.3f} ({phi_found}/{report.phi_gold})"
    )
    lines += ["", "Goals:"]
    for name, (value, goal, met) in report.goals().items():
        lines.append(f"  {name:22} {value:.3f}  goal ≥ {goal:.2f}  {'met' if met else 'NOT MET'}")
    lines += [
        "",
        "Level confusion (rows: gold, columns: predicted):",
        "        " + "".join(f"{lv:>7}" for lv in LEVELS),
    ]
    for gold in LEVELS:
        lines.append(f"  {gold:6}" + "".join(f"{report.confusion[gold].get(pred, 0):>7}" for pred in LEVELS))
    lines += ["", "Recall by gold type (type-agnostic overlap):"]
    for type_, t in sorted(report.by_gold_type.items(), key=lambda item: (item[1].recall, item[0])):
        lines.append(f"  {type_:16} {t.recall:.3f} ({t.found}/{t.gold})")
    lines += ["", "Precision by predicted type:"]
    for type_, t in sorted(report.by_predicted_type.items(), key=lambda item: (item[1].precision, item[0])):
        lines.append(f"  {type_:16} {t.precision:.3f} ({t.correct}/{t.predicted})")
    lines += ["", "Level accuracy by kind (worst first):"]
    for kind, (n, correct) in sorted(report.by_kind.items(), key=lambda item: (item[1][1] / item[1][0], item[0])):
        lines.append(f"  {kind:28} {correct / n:.3f} ({correct}/{n})")
    if show_errors:
        sections = [
            ("Identifier misses", report.identifier_misses),
            ("Identifier false positives", report.identifier_false_positives),
            ("Health misses", report.health_misses),
            ("Health false positives", report.health_false_positives),
        ]
        for title, errors in sections:
            lines += ["", f"{title} ({len(errors)}, first {min(show_errors, len(errors))}):"]
            lines += [f"  {e.record_id:30} {e.type:15} {e.context}" for e in spread(errors, show_errors)]
        lines += ["", f"Level errors ({len(report.level_errors)}, first {min(show_errors, len(report.level_errors))}):"]
        lines += [
            f"  {e.record_id:30} gold {e.gold:5} predicted {e.predicted}" for e in report.level_errors[:show_errors]
        ]
        lines += ["", "Messages with the most errors:"]
        lines += [f"  {record_id:30} {count}" for record_id, count in report.worst_messages(show_errors)]
    return "\n".join(lines)
