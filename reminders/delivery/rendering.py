"""Render message templates (Jinja2, StrictUndefined) and count SMS segments.

A clinic's overrides (a Look, read by the caller) are rendered in a sandbox, shipped ones beside.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    DictLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    meta,
)
from jinja2.sandbox import SandboxedEnvironment

from reminders.delivery.looks import Branding, Look

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
DEFAULT_LOCALE = "en"
EMAIL_PARTS = ("subject.txt", "txt", "html")

# GSM 03.38 basic set (ESC excluded) and the extension table, whose characters cost 2 units.
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")
# Look-alikes that silently turn an SMS into UCS-2 (curly quotes, dashes, odd spaces).
LOOKALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\u2009": " ",
    "\u00b4": "'", "`": "'",
}  # fmt: skip


@dataclass(frozen=True)
class RenderedEmail:
    """The three parts of an email."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class SmsSize:
    """How an SMS body is encoded and how many segments it costs."""

    encoding: str
    units: int
    segments: int


def is_gsm7(char: str) -> bool:
    """True when the character exists in GSM 03.38 (basic or extension table)."""
    return char in GSM7_BASIC or char in GSM7_EXTENDED


def gsm_fold(value: object) -> str:
    """A value as GSM-7 text where possible: 'María' -> 'Maria', curly quotes -> straight.

    Characters with no GSM-7 look-alike (e.g. CJK) are kept, so the SMS honestly goes UCS-2.
    """
    out = []
    for char in str(value):
        if is_gsm7(char):
            out.append(char)
        elif char in LOOKALIKES:
            out.append(LOOKALIKES[char])
        else:
            base = "".join(
                c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)
            )
            out.append(base if base and all(is_gsm7(c) for c in base) else char)
    return "".join(out)


def language_candidates(locale: str) -> list[str]:
    """'es-MX' -> ['es_MX', 'es', 'en']: the template folders to try, most specific first."""
    normal = locale.replace("-", "_").strip() or DEFAULT_LOCALE
    return list(dict.fromkeys([normal, normal.split("_")[0].lower(), DEFAULT_LOCALE]))


class Renderer:
    """Renders sms/<lang>/<key>.txt, email/<lang>/<key>.{subject.txt,txt,html} and the rest.

    Values interpolated into an SMS are folded to GSM-7 (see gsm_fold) so a patient's accented
    name does not triple the cost of every text; template wording is checked by the linter.
    """

    def __init__(
        self, directory: Path = TEMPLATE_DIR, fold_sms: bool = True, look: Look | None = None
    ) -> None:
        shipped = FileSystemLoader(str(directory))
        loader: BaseLoader = shipped
        # A clinic's text is untrusted: its environment is sandboxed (no attribute tricks).
        kind: type[Environment] = Environment
        if look is not None:
            loader, kind = ChoiceLoader([DictLoader(look.bodies), shipped]), SandboxedEnvironment
        # auto_reload off: checking every template file's mtime on each render cost a tenth of
        # a worker's time; a process renders the templates it started with (the lint reloads).
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": StrictUndefined,
            "keep_trailing_newline": False,
            "auto_reload": False,
        }
        self.directory, self.fold_sms, self.look = directory, fold_sms, look
        self._shipped_stamp = ""
        self._languages: dict[tuple[str, str, str], str] = {}
        self._text = kind(autoescape=False, **common)  # noqa: S701
        self._sms = kind(autoescape=False, finalize=gsm_fold if fold_sms else None, **common)  # noqa: S701
        self._html = kind(autoescape=True, **common)

    def for_clinic(self, look: Look | None) -> Renderer:
        """This renderer with a clinic's overrides on top (itself when there are none)."""
        if look is None or (not look.templates and not look.branding.version):
            return self
        clinic = Renderer(self.directory, self.fold_sms, look)
        clinic._shipped_stamp = self.shipped_stamp()
        return clinic

    def shipped_stamp(self) -> str:
        """'shipped:<digest of the template directory>': names the wording a message came from."""
        if not self._shipped_stamp:
            digest = hashlib.sha256()
            for path in sorted(self.directory.rglob("*")):
                if path.is_file():
                    digest.update(str(path.relative_to(self.directory)).encode() + b"\0")
                    digest.update(path.read_bytes() + b"\0")
            self._shipped_stamp = f"shipped:{digest.hexdigest()[:12]}"
        return self._shipped_stamp

    def stamp(self, kind: str, key: str, locale: str) -> str:
        """The template version a step's message renders from, for Message.template_version."""
        if self.look is None:
            return self.shipped_stamp()
        lang = self.language_of(kind, key, locale)
        if kind == "sms":
            used = [f"sms/{lang}/{key}.txt"]
        else:
            used = [f"email/{lang}/{key}.{ext}" for ext in EMAIL_PARTS]
            # The shared pieces a step's email may include: the layout and the _partials.
            shared = ("email/layout.html", f"email/{lang}/_")
            used += sorted(n for n in self.look.templates if n.startswith(shared))
        return self.look.stamp(used, self.shipped_stamp())

    def language_of(self, kind: str, key: str, locale: str) -> str:
        """The template language a step renders in for this locale (English if none fits)."""
        found = self._languages.get((kind, key, locale))
        if found is None:
            ext = "txt" if kind == "sms" else EMAIL_PARTS[0]
            found = next((lang for lang in language_candidates(locale)
                          if (self.directory / kind / lang / f"{key}.{ext}").is_file()),
                         DEFAULT_LOCALE)  # fmt: skip
            self._languages[(kind, key, locale)] = found
        return found

    def sms(self, key: str, locale: str, context: dict[str, Any]) -> str:
        """The SMS body for a step, in the patient's language (English if missing)."""
        return self._render(self._sms, "sms", key, "txt", locale, context).strip()

    def email(self, key: str, locale: str, context: dict[str, Any]) -> RenderedEmail:
        """Subject, plain text and HTML for a step."""
        subject = self._render(self._text, "email", key, "subject.txt", locale, context)
        text = self._render(self._text, "email", key, "txt", locale, context)
        html = self._render(self._html, "email", key, "html", locale, context)
        return RenderedEmail(subject=" ".join(subject.split()), text=tidy(text), html=html)

    def clinic_email(self, key: str, locale: str, context: dict[str, Any]) -> RenderedEmail:
        """A plain-text email to clinic staff: clinic_email/<lang>/<key>.{subject.txt,txt}."""
        subject = self._render(self._text, "clinic_email", key, "subject.txt", locale, context)
        text = self._render(self._text, "clinic_email", key, "txt", locale, context)
        return RenderedEmail(subject=" ".join(subject.split()), text=tidy(text), html="")

    def page(self, key: str, locale: str, context: dict[str, Any]) -> str:
        """A patient-facing web page (page/<lang>/<key>.html), autoescaped."""
        return self._render(self._html, "page", key, "html", locale, context)

    def variables(self, kind: str, key: str, locale: str) -> set[str]:
        """The context names a step's 'sms' or 'email' templates read, in the patient's language."""
        names: set[str] = set()
        for ext in ("txt",) if kind == "sms" else EMAIL_PARTS:
            for lang in language_candidates(locale):
                try:
                    source = self.source(f"{kind}/{lang}/{key}.{ext}")
                except TemplateNotFound:
                    continue
                names |= meta.find_undeclared_variables(self._text.parse(source))
                break
        return names

    def source(self, name: str) -> str:
        """A template's text as this renderer sees it (the clinic's override, else shipped)."""
        assert self._text.loader is not None
        return self._text.loader.get_source(self._text, name)[0]

    def languages(self) -> list[str]:
        """Languages that have SMS or email templates in this directory."""
        found = {p.name for kind in ("sms", "email") for p in (self.directory / kind).glob("*")}
        return sorted(name for name in found if (self.directory / "sms" / name).is_dir()
                      or (self.directory / "email" / name).is_dir())  # fmt: skip

    def _render(
        self, env: Environment, kind: str, key: str, ext: str, locale: str, context: dict[str, Any]
    ) -> str:
        candidates = language_candidates(locale)
        for lang in candidates:
            try:
                template = env.get_template(f"{kind}/{lang}/{key}.{ext}")
            except TemplateNotFound:
                continue
            look = self.look.branding if self.look is not None else Branding()
            branding = look.context(str(context.get("clinic_name", "")))
            return template.render(
                {"locale": locale, "branding": branding, **context, "lang": lang}
            )
        raise TemplateNotFound(f"{kind}/{candidates[0]}/{key}.{ext}")


def tidy(text: str) -> str:
    """Plain text without leading/trailing blank lines or runs of more than one empty line."""
    return re.sub(r"\n{3,}", "\n\n", text.strip())


def sms_size(text: str) -> SmsSize:
    """Count segments with the real rules: GSM-7 160/153, UCS-2 70/67 units per segment.

    A GSM-7 extension character (escape + char) costs 2 units and a UCS-2 surrogate pair
    (an emoji) 2 units; neither pair is split across segments, as real encoders pack them.
    """
    if all(is_gsm7(char) for char in text):
        costs = [2 if char in GSM7_EXTENDED else 1 for char in text]
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        costs = [2 if ord(char) > 0xFFFF else 1 for char in text]
        single, multi, encoding = 70, 67, "UCS-2"
    units = sum(costs)
    if units <= single:
        return SmsSize(encoding=encoding, units=units, segments=1)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments, used = segments + 1, 0
        used += cost
    return SmsSize(encoding=encoding, units=units, segments=segments)
