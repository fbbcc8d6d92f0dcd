"""Keyword and warning-sign classification of patients' texts (pure)."""

from __future__ import annotations

import pytest

from reminders.inbound.replies import (
    HELP,
    OPT_IN,
    OPT_OUT,
    REPLY,
    WARNING,
    classify,
    keyword_of,
    warning_signs,
)


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


@pytest.mark.parametrize(
    "body",
    [
        "no fever",
        "sin fiebre",
        "ya no pica",
        "not itchy anymore",
        "no pain at all",
        "no more swelling",
        "it doesn't hurt",
        "it doesn’t hurt",
        "no tengo fiebre",
        "no fever, no pus, just dry",
        "ni fiebre ni hinchazón",
        "I haven't noticed any swelling",
        "the swelling went down",
        "el dolor ya se fue",
        "bleeding stopped",
        "ya dejó de sangrar",
        "how do I prevent infection?",
        "pain free today",
    ],
)
def test_a_denied_or_resolved_sign_raises_no_alarm(body: str) -> None:
    assert classify(body).kind == REPLY


@pytest.mark.parametrize(
    ("body", "signs"),
    [
        ("no, the pain is worse", ("pain",)),
        ("no the pain is worse", ("pain",)),
        ("not sure, is this pus?", ("pus",)),
        ("I don't know if it's infected", ("infection",)),
        ("no sé si está infectado", ("infection",)),
        ("it hasn't stopped bleeding", ("bleeding",)),
        ("no para de sangrar", ("bleeding",)),
        ("it stopped bleeding but started again", ("bleeding",)),
        ("i didnt sleep because of the itching", ("itching",)),
        ("no se me quita el picor", ("itching",)),
        ("not itchy anymore but now there are blisters", ("blisters",)),
        ("no fever but my face is swollen", ("swelling",)),
        ("the swelling is not going down", ("swelling",)),
        ("the swelling is going down my neck", ("swelling",)),
    ],
)
def test_a_negation_that_does_not_deny_the_sign_still_alerts(
    body: str, signs: tuple[str, ...]
) -> None:
    assert warning_signs(body) == signs


@pytest.mark.parametrize(
    ("body", "signs"),
    [
        ("my face feels hot", ("warmth",)),
        ("me arde la piel", ("warmth",)),
        ("tengo ampollas", ("blisters",)),
        ("creo que se me infectó", ("infection",)),
        ("SO ITCHYYY", ("itching",)),
        ("me pica", ("itching",)),
        ("dark patches on my cheek", ("dark patches",)),
        ("manchas oscuras", ("dark patches",)),
        ("little bumps that won't go away", ("bumps",)),
        ("granitos que no se van", ("bumps",)),
        ("swolen and puss", ("pus", "swelling")),
        ("Hinchazón y sarpullido", ("swelling", "rash")),
    ],
)
def test_every_aftercare_sign_with_common_spellings_and_accents(
    body: str, signs: tuple[str, ...]
) -> None:
    assert warning_signs(body) == signs


@pytest.mark.parametrize(
    "body",
    [
        "can I do hot yoga?",
        "can I use a heat pack",
        "hot shower ok?",
        "can I wash with warm water",
        "hace mucho calor, puedo salir?",
        "puedo ducharme con agua caliente?",
        "I have a blood test tomorrow",
        "can I wear makeup tomorrow?",
        "can I go to a hot spring next week",
        "can I have sangria tonight?",
        "I'm on ozempic",
    ],
)
def test_heat_water_and_blood_tests_in_questions_raise_no_alarm(body: str) -> None:
    assert classify(body).kind == REPLY


def test_heat_the_patient_feels_alerts_whatever_the_weather_words() -> None:
    assert warning_signs("my face is hot today") == ("warmth",)


def test_a_keyword_is_still_a_whole_message_and_accents_are_dropped_the_same_way() -> None:
    assert (classify("STOP").kind, classify("BAJA").kind, keyword_of(" sí! ")) == (
        OPT_OUT,
        OPT_OUT,
        "SI",
    )
    assert classify("STOP the burning is unbearable") == classify("the burning is unbearable")
