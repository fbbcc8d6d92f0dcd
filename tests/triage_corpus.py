"""Score the warning-sign classifier on the labelled replies in tests/data (pure, no I/O at import).

`python -m tests.triage_corpus` prints the figures quoted in the README.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from reminders.inbound.replies import WARNING, Classification, classify

DATA = Path(__file__).parent / "data"
LANGUAGES = ("en", "es")
MUST_NOT_ALERT, TOLERATED = "none", "none?"


@dataclass(frozen=True)
class Example:
    """One labelled reply: the signs it reports, or a negative label."""

    text: str
    expected: tuple[str, ...]
    label: str  # "alert", MUST_NOT_ALERT or TOLERATED


@dataclass(frozen=True)
class Ratio:
    """Hits out of a total, printed as 'hits/total = 0.97'."""

    hits: int
    total: int

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else 1.0

    def __str__(self) -> str:
        return f"{self.hits}/{self.total} = {self.value:.2f}"


@dataclass(frozen=True)
class Score:
    """Message-level and per-sign precision and recall, and the texts that went wrong."""

    language: str
    size: int
    precision: Ratio
    recall: Ratio
    per_sign: dict[str, tuple[Ratio, Ratio]]
    missed: list[str]
    false_alerts: list[str]
    tolerated_alerts: list[str]


def parse(lines: Iterable[str]) -> list[Example]:
    """Rows of 'text<TAB>expected' after a header; '#' lines are comments."""
    rows = [line.rstrip("\n") for line in lines if line.strip() and not line.startswith("#")]
    examples = []
    for row in rows[1:]:
        text, expected = row.split("\t")
        if expected in (MUST_NOT_ALERT, TOLERATED):
            examples.append(Example(text, (), expected))
        else:
            signs = tuple(sign.strip() for sign in expected.split(","))
            examples.append(Example(text, signs, "alert"))
    return examples


def load(language: str) -> list[Example]:
    """The corpus of one language."""
    with (DATA / f"triage_{language}.tsv").open(encoding="utf-8") as corpus:
        return parse(corpus)


def score(
    language: str,
    examples: list[Example],
    classifier: Callable[[str], Classification] = classify,
) -> Score:
    """Compare the classifier's alerts and signs with the labels."""
    results = [(example, classifier(example.text)) for example in examples]
    positives = [(ex, got) for ex, got in results if ex.label == "alert"]
    alerted = [(ex, got) for ex, got in results if got.kind == WARNING]
    true_alerts = sum(1 for ex, _ in alerted if ex.label == "alert")
    signs = sorted({sign for ex in examples for sign in ex.expected})
    per_sign = {}
    for sign in signs:
        found = [ex for ex, got in results if sign in got.signs]
        right = sum(1 for ex in found if sign in ex.expected)
        wanted = sum(1 for ex in examples if sign in ex.expected)
        per_sign[sign] = (Ratio(right, len(found)), Ratio(right, wanted))
    return Score(
        language=language,
        size=len(examples),
        precision=Ratio(true_alerts, len(alerted)),
        recall=Ratio(true_alerts, len(positives)),
        per_sign=per_sign,
        missed=[
            f"{ex.text!r}: expected {ex.expected}, got {got.signs}"
            for ex, got in positives
            if not set(ex.expected) <= set(got.signs)
        ],
        false_alerts=[
            f"{ex.text!r} {got.signs}" for ex, got in alerted if ex.label == MUST_NOT_ALERT
        ],
        tolerated_alerts=[
            f"{ex.text!r} {got.signs}" for ex, got in alerted if ex.label == TOLERATED
        ],
    )


def report(result: Score) -> str:
    """A plain-text table of one language's score."""
    lines = [
        f"[{result.language}] {result.size} replies: alerts precision {result.precision}, "
        f"recall {result.recall}",
        f"  {'sign':<18} {'precision':<16} recall",
    ]
    for sign, (precision, recall) in result.per_sign.items():
        lines.append(f"  {sign:<18} {precision!s:<16} {recall}")
    for title, texts in (
        ("missed", result.missed),
        ("false alerts (must not alert)", result.false_alerts),
        ("tolerated alerts (none?)", result.tolerated_alerts),
    ):
        lines.append(f"  {title}: {len(texts)}")
        lines.extend(f"    {text}" for text in texts)
    return "\n".join(lines)


if __name__ == "__main__":
    for language in LANGUAGES:
        print(report(score(language, load(language))))
