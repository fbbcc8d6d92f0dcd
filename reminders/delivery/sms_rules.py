"""PURE: the rules every SMS must meet; each check returns the problems it finds."""

from __future__ import annotations

import re

from reminders.delivery.rendering import LOOKALIKES, is_gsm7, sms_size

MAX_SEGMENTS = 2
# The opt-out sentence a patient's first SMS must carry, per template language.
OPT_OUT = {
    "en": "Reply STOP to opt out",
    "es": "Responde STOP para darte de baja",
}
# An SMS shows on a lock screen: no procedure names and no clinical detail, just "your
# treatment". Matched as whole words, case-insensitively (English and Spanish).
FORBIDDEN = (
    r"micro-?needling", r"needl\w*", r"micro-?agujas?", r"agujas?", r"micropunci\w+",
    r"derma-?(roller|pen|planing)", r"collagen", r"col[aá]geno", r"peel(ing)?", r"laser",
    r"l[aá]ser", r"retin\w*", r"tretino\w+", r"glycolic", r"glic[oó]lico", r"salicylic",
    r"salic[ií]lico", r"acids?", r"[aá]cidos?", r"AHAs?", r"BHAs?", r"infect\w*", r"infecci\w+",
    r"pus", r"fever", r"fiebre", r"bleed\w*", r"sangr\w*", r"scars?", r"cicatri\w+",
    r"acne", r"acn[eé]", r"granulom\w*", r"hyperpigment\w*", r"hiperpigment\w*",
)  # fmt: skip
FORBIDDEN_PATTERN = re.compile(r"\b(" + "|".join(FORBIDDEN) + r")\b", re.IGNORECASE)


def encoding_problems(text: str) -> list[str]:
    """Characters that would force UCS-2, named (curly quotes and odd spaces called out)."""
    bad = sorted({char for char in text if not is_gsm7(char)})
    problems = []
    lookalikes = [c for c in bad if c in LOOKALIKES]
    if lookalikes:
        names = ", ".join(f"U+{ord(c):04X}" for c in lookalikes)
        problems.append(f"curly quotes / dashes / non-breaking spaces ({names}): use plain ASCII")
    others = [c for c in bad if c not in LOOKALIKES]
    if others:
        problems.append(f"not GSM-7 ({' '.join(others)}): the SMS would be sent as UCS-2")
    return problems


def sms_problems(text: str, lang: str, clinic_name: str, first_sms: bool) -> list[str]:
    """Every rule an SMS breaks: encoding, size, clinic name, opt-out, lock-screen privacy."""
    problems = encoding_problems(text)
    size = sms_size(text)
    if size.segments > MAX_SEGMENTS:
        problems.append(
            f"{size.segments} segments ({size.units} {size.encoding} units); at most {MAX_SEGMENTS}"
        )
    if clinic_name not in text:
        problems.append("the clinic's name is missing")
    opt_out = OPT_OUT.get(lang.split("_")[0], OPT_OUT["en"])
    if first_sms and opt_out not in text:
        problems.append(f"a first SMS must say {opt_out!r}")
    found = sorted({m.group(0).lower() for m in FORBIDDEN_PATTERN.finditer(text)})
    if found:
        problems.append(f"procedure or clinical words on a lock screen: {', '.join(found)}")
    return problems


def subject_problems(subject: str) -> list[str]:
    """An email subject shows in notifications too: non-empty, short, no procedure names."""
    problems = []
    if not subject:
        problems.append("the subject is empty")
    if len(subject) > 100:
        problems.append(f"the subject is {len(subject)} characters; keep it under 100")
    found = sorted({m.group(0).lower() for m in FORBIDDEN_PATTERN.finditer(subject)})
    if found:
        problems.append(f"procedure or clinical words in the subject: {', '.join(found)}")
    return problems
