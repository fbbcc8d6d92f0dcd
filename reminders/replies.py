"""PURE: classify an inbound SMS: opt-out, opt-in, help, a plain reply or a warning sign."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

OPT_OUT, OPT_IN, HELP, REPLY, WARNING = "opt_out", "opt_in", "help", "reply", "warning"

# Carrier-standard keywords (CTIA) and Twilio's, plus the Spanish ones patients actually send.
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
    | {"PARAR", "BAJA", "DETENER", "ALTO", "CANCELAR"}
)
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP", "SI", "ALTA", "COMENZAR", "INICIAR"})
HELP_WORDS = frozenset({"HELP", "INFO", "AYUDA"})

# Warning signs after microneedling (AFTERCARE.md), English and Spanish stems.
WARNING_PATTERNS = {
    "pain": r"pain(?:ful)?|hurts?|hurting|dolor(?:es)?|duele",
    "pus": r"pus|oozing|discharge|supura\w*",
    "fever": r"fever(?:ish)?|fiebre|calentura",
    "spreading redness": r"spreading\s+redness|redness\s+(?:is\s+)?spreading"
    r"|enrojecimiento\s+(?:que\s+)?se\s+(?:extiende|expande)|rojez\w*\s+que\s+se\s+extiende",
    "swelling": r"swell(?:ing|ed|s)?|swollen|hinchaz[oó]n|hinchad[oa]s?|inflamad[oa]s?",
    "bleeding": r"bleed(?:ing|s)?|blood|sangr\w*",
    "rash": r"rash(?:es)?|hives|sarpullido|erupci[oó]n|ronchas?",
}
_SIGN_RES = {
    sign: re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE)
    for sign, pattern in WARNING_PATTERNS.items()
}
# A negation shortly before the sign, in the same clause ("no fever", "sin dolor", "no fever
# or swelling") is no alarm. Punctuation or a verb in between ends it: "No, the pain is worse"
# and "not sure, is swelling normal?" must alert. When unsure, alert: a missed sign is worse.
_NO_CLAUSE_END = r"[^\w,.;:!?¿¡]"
_NEGATION = re.compile(
    r"\b(?:no|not|without|never|none|sin|nada\s+de|ni)\b"
    rf"(?:{_NO_CLAUSE_END}+(?!(?:is|are|was|were|but|pero|es|est[aá]|estoy)\b)\w+){{0,2}}"
    rf"{_NO_CLAUSE_END}*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Classification:
    """What an inbound text means for us, and which warning signs it mentions."""

    kind: str
    signs: tuple[str, ...] = ()


def keyword_of(body: str) -> str:
    """The message reduced to one bare upper-case word ('  Stop! ' -> 'STOP'), accents dropped."""
    text = unicodedata.normalize("NFKD", body)
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = re.sub(r"[\s\W_]+$", "", text.strip())
    text = re.sub(r"^[\W_]+", "", text)
    return re.sub(r"[\s\-_]+", "", text).upper()


def warning_signs(body: str) -> tuple[str, ...]:
    """The warning signs a text mentions and does not negate, in a fixed order."""
    found = []
    for sign, regex in _SIGN_RES.items():
        if any(not _NEGATION.search(body[: match.start()]) for match in regex.finditer(body)):
            found.append(sign)
    return tuple(found)


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
