"""Keyword and warning-sign classification of patients' texts (pure)."""

from __future__ import annotations

import pytest

from reminders.replies import HELP, OPT_IN, OPT_OUT, REPLY, WARNING, classify


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "stop",
        " Stop. ",
        "STOP!!",
        "StopAll",
        "unsubscribe",
        "Cancel",
        "end",
        "QUIT",
        "revoke",
        "opt out",
        "OPT-OUT",
        "Parar",
        "baja",
        "BAJA.",
    ],
)
def test_opt_out_keywords_in_any_case_spacing_and_punctuation(body: str) -> None:
    assert classify(body).kind == OPT_OUT


@pytest.mark.parametrize("body", ["START", "yes", "Unstop!", "sí", "ALTA"])
def test_opt_in_keywords(body: str) -> None:
    assert classify(body).kind == OPT_IN


@pytest.mark.parametrize("body", ["HELP", "info?", "Ayuda"])
def test_help_keywords(body: str) -> None:
    assert classify(body).kind == HELP


@pytest.mark.parametrize(
    "body",
    ["please stop texting me about the clinic", "I can't stop smiling", "yes I did it", "thanks!"],
)
def test_a_keyword_inside_a_sentence_is_a_plain_reply(body: str) -> None:
    assert classify(body).kind == REPLY


@pytest.mark.parametrize(
    ("body", "signs"),
    [
        ("my face has pus on the left cheek", ("pus",)),
        ("I have a fever since last night", ("fever",)),
        ("the redness is spreading to my neck", ("spreading redness",)),
        ("very swollen and painful", ("pain", "swelling")),
        ("it's bleeding a little", ("bleeding",)),
        ("got a rash this morning", ("rash",)),
        ("tengo fiebre y mucho dolor", ("pain", "fever")),
        ("me salió un sarpullido y está hinchada", ("swelling", "rash")),
        ("está sangrando", ("bleeding",)),
        ("No, the pain is worse", ("pain",)),
        ("not sure, is swelling normal?", ("swelling",)),
        ("not sure is swelling normal", ("swelling",)),
        ("no better. fever is worse", ("fever",)),
        ("no, me duele mucho", ("pain",)),
    ],
)
def test_warning_signs_in_english_and_spanish(body: str, signs: tuple[str, ...]) -> None:
    result = classify(body)
    assert (result.kind, result.signs) == (WARNING, signs)


@pytest.mark.parametrize(
    "body",
    [
        "no pain at all, thanks",
        "no fever or swelling",
        "sin dolor, todo bien",
        "not bleeding",
        "no real pain",
        "no more bleeding",
        "I love the spa",
        "repaint",
        "pushing through",
        "pussycat",
        "feverfew tea",
    ],
)
def test_negations_and_lookalike_words_raise_no_alarm(body: str) -> None:
    assert classify(body).kind == REPLY
