"""Warning-sign triage on the labelled replies in tests/data: recall 1.0, no listed false alarm."""

from __future__ import annotations

import pytest

from reminders.inbound.replies import REPLY, WARNING, Classification
from tests.triage_corpus import LANGUAGES, load, parse, report, score


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_warning_sign_in_the_corpus_alerts_and_no_listed_negative_does(
    language: str,
) -> None:
    examples = load(language)
    result = score(language, examples)
    print("\n" + report(result))
    assert len(examples) >= 150
    assert (result.missed, result.false_alerts) == ([], []), report(result)
    assert result.recall.value == 1.0, report(result)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_corpus_covers_every_sign_several_times_and_is_about_half_negatives(
    language: str,
) -> None:
    examples = load(language)
    result = score(language, examples)
    assert len(result.per_sign) == 13
    assert all(recall.total >= 5 for _, recall in result.per_sign.values()), report(result)
    positives = sum(1 for example in examples if example.expected)
    assert 0.4 <= positives / len(examples) <= 0.6


def test_the_score_counts_misses_false_alerts_and_tolerated_alerts() -> None:
    examples = parse(
        ["text\texpected", "# a comment", "pus\tpus", "fever\tfever", "ok\tnone", "hm\tnone?"]
    )

    def classifier(body: str) -> Classification:
        return (
            Classification(WARNING, ("pus",))
            if body in ("pus", "ok", "hm")
            else Classification(REPLY)
        )

    result = score("xx", examples, classifier)
    assert (str(result.precision), str(result.recall)) == ("1/3 = 0.33", "1/2 = 0.50")
    assert result.missed == ["'fever': expected ('fever',), got ()"]
    assert result.false_alerts == ["'ok' ('pus',)"]
    assert result.tolerated_alerts == ["'hm' ('pus',)"]
