"""PURE: classify an inbound SMS: opt-out, opt-in, help, a plain reply or a warning sign."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from reminders.inbound import warning_words as words

OPT_OUT, OPT_IN, HELP, REPLY, WARNING = "opt_out", "opt_in", "help", "reply", "warning"

# Carrier-standard keywords (CTIA) and Twilio's, plus the Spanish ones patients actually send.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
    | {"PARAR", "BAJA", "DETENER", "ALTO", "CANCELAR"}
)
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP", "SI", "ALTA", "COMENZAR", "INICIAR"})
HELP_WORDS = frozenset({"HELP", "INFO", "AYUDA"})


@dataclass(frozen=True)
class Classification:
    """What an inbound text means for us, and which warning signs it mentions."""

    kind: str
    signs: tuple[str, ...] = ()


def without_accents(text: str) -> str:
    """The text with accents and tildes dropped ('hinchazón' -> 'hinchazon'), for all matching."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def keyword_of(body: str) -> str:
    """The message reduced to one bare upper-case word ('  Stop! ' -> 'STOP'), accents dropped."""
    text = re.sub(r"[\s\W_]+$", "", without_accents(body).strip())
    text = re.sub(r"^[\W_]+", "", text)
    return re.sub(r"[\s\-_]+", "", text).upper()


def squeeze(text: str) -> str:
    """Each run of one repeated letter once: patients stretch and misspell ('itchyyy', 'swolen')."""
    return re.sub(r"([a-z])\1+", r"\1", text)


def triage_text(body: str) -> str:
    """The body as the warning-sign words are matched: lower case, no accents or apostrophes."""
    return squeeze(re.sub(r"['’`´]", "", without_accents(body).lower()))


def _compile(fragments: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{'|'.join(squeeze(part) for part in fragments)})\b")


_FORMAT = {"red": words.RED, "spread": words.SPREAD, "neg": "|".join(words.NEGATORS)}
_SIGN_RES = {
    sign: _compile(tuple(part.format(**_FORMAT) for part in parts))
    for sign, parts in words.SIGNS.items()
}
_NOT_A_REPORT = _compile(words.NOT_A_REPORT)
_RESOLVED = re.compile(rf"^\s*(?:{squeeze(words.RESOLVED)})")
_WORSENING, _RETURNING = _compile((words.WORSENING,)), _compile((words.RETURNING,))
_NEGATORS, _FILLERS, _LIST_WORDS, _CLAUSE_WORDS = (
    frozenset(squeeze(word) for word in group)
    for group in (words.NEGATORS, words.FILLERS, words.LIST_WORDS, words.CLAUSE_WORDS)
)
# Punctuation, emoji and line breaks end a clause: "no, the pain is worse" alerts.
_CLAUSE_END = re.compile(r"[^\w\s]")
_WORD = re.compile(r"\w+")
_MAX_FILLERS = 4


def _clause_before(text: str, start: int) -> str:
    return _CLAUSE_END.split(text[:start])[-1]


def _after(text: str, end: int, sign_spans: list[tuple[int, int]]) -> str:
    """The words after a sign up to punctuation or the next sign."""
    stop = min((begin for begin, _ in sign_spans if begin >= end), default=len(text))
    return _CLAUSE_END.split(text[end:stop])[0]


def _clause(words_after: str) -> str:
    """The words up to 'but', 'pero' and the like."""
    for word in _WORD.finditer(words_after):
        if word.group() in _CLAUSE_WORDS:
            return words_after[: word.start()]
    return words_after


_OTHER_SIGN = "\0"  # stands for another sign's word: "no pus or fever" denies both


def _negated(before: list[str]) -> bool:
    """Whether the words before a sign (nearest last) deny it: 'no', 'sin', 'nothing ... or'."""
    fillers = 0
    for index in range(len(before) - 1, -1, -1):
        word = before[index]
        if word in _NEGATORS:
            # "hasn't stopped bleeding", "no better": two negations make a report.
            return index == 0 or before[index - 1] not in _NEGATORS
        if word in _FILLERS:
            fillers += 1
        elif word not in _LIST_WORDS and word != _OTHER_SIGN:
            return False
        if fillers > _MAX_FILLERS:
            return False
    return False


def _words_before(text: str, start: int, sign_spans: list[tuple[int, int]]) -> list[str]:
    """The words before `start` in its clause (after any 'but'), other signs as _OTHER_SIGN."""
    clause = _clause_before(text, start)
    offset = start - len(clause)
    found: list[str] = []
    for word in _WORD.finditer(clause):
        at = offset + word.start()
        if word.group() in _CLAUSE_WORDS:
            found = []
        elif any(begin <= at < end for begin, end in sign_spans):
            found.append(_OTHER_SIGN)
        else:
            found.append(word.group())
    return found


def _denied(text: str, match: re.Match[str], sign_spans: list[tuple[int, int]]) -> bool:
    """Worse or back again: reported. Over, denied or ruled out: not. Otherwise: reported."""
    after = _after(text, match.end(), sign_spans)
    if _WORSENING.search(_clause(after)) or _RETURNING.search(after):
        return False
    if _RESOLVED.search(after):
        return True
    return _negated(_words_before(text, match.start(), sign_spans))


def warning_signs(body: str) -> tuple[str, ...]:
    """The warning signs a text reports (not denies, not merely names), in a fixed order."""
    text = triage_text(body)
    excluded = [match.span() for match in _NOT_A_REPORT.finditer(text)]
    matches = [
        (sign, match)
        for sign, regex in _SIGN_RES.items()
        for match in regex.finditer(text)
        if not any(begin <= match.start() < end for begin, end in excluded)
    ]
    spans = [match.span() for _, match in matches]
    reported = {sign for sign, match in matches if not _denied(text, match, spans)}
    return tuple(sign for sign in _SIGN_RES if sign in reported)


def classify(body: str) -> Classification:
    """Keywords first (whole message only), then warning signs, else a plain reply."""
    keyword = keyword_of(body)
    if keyword in OPT_OUT_WORDS:
        return Classification(OPT_OUT)
    if keyword in OPT_IN_WORDS:
        return Classification(OPT_IN)
    if keyword in HELP_WORDS:
        return Classification(HELP)
    signs = warning_signs(body)
    return Classification(WARNING, signs) if signs else Classification(REPLY)
