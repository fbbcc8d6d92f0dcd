"""The template lint for a clinic's overrides: what a change would break, before it is saved."""

from __future__ import annotations

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from reminders.cli.answer_lint import Row, Sample
from reminders.cli.templates import lint, sample_context
from reminders.delivery.looks import Look
from reminders.delivery.rendering import Renderer
from reminders.models import Clinic
from reminders.planning.overrides import apply_overrides
from reminders.planning.protocol import Protocol, load_protocol

# Set by the renderer for every template, besides what composition.context_for gives.
RENDERER_NAMES = frozenset({"lang", "locale", "branding"})


def clinic_sample(clinic: Clinic) -> Sample:
    """The clinic's own values to lint with; a sample value where one is not set (the longer
    branch of `{% if clinic_phone %}` is then checked too)."""
    base = Sample()
    return Sample(
        first_name=base.first_name,
        clinic_name=clinic.name,
        clinic_phone=clinic.phone or base.clinic_phone,
        booking_url=clinic.booking_url or base.booking_url,
        clinic_address=clinic.address or base.clinic_address,
    )


def clinic_protocols(clinic: Clinic) -> list[Protocol]:
    """The clinic's protocol with its overrides: its [claims] say when each phrase is true."""
    protocol = load_protocol(clinic.protocol)
    source = f"clinic {clinic.id!r} protocol_overrides"
    return [apply_overrides(protocol, clinic.protocol_overrides, source)]


def unknown_variables(look: Look) -> list[str]:
    """Names an override reads that no message provides, and overrides that do not parse."""
    known = RENDERER_NAMES | set(sample_context(Sample(), "en", True))
    env = SandboxedEnvironment()
    problems = []
    for name, body in sorted(look.bodies.items()):
        try:
            tree = env.parse(body)
        except TemplateSyntaxError as exc:
            problems.append(f"{name}: not a valid template (line {exc.lineno}: {exc.message})")
            continue
        names = meta.find_undeclared_variables(tree)
        # A patient's name or a link must stay escaped in HTML: no |safe, no autoescape off.
        if any(f.name == "safe" for f in tree.find_all(nodes.Filter)) or any(
            True for _ in tree.find_all(nodes.EvalContextModifier)
        ):
            problems.append(f"{name}: |safe and autoescape are not allowed in a clinic template")
        if names - known:
            problems.append(f"{name}: unknown variables {', '.join(sorted(names - known))}")
    return problems


def look_rows(base: Renderer, look: Look, sample: Sample, protocols: list[Protocol]) -> list[Row]:
    """The full lint report with a clinic's look on top of the shipped templates."""
    renderer = Renderer(base.directory, base.fold_sms, look)
    return lint(base.directory, sample, protocols, renderer)


def look_problems(
    base: Renderer, current: Look, candidate: Look, sample: Sample, protocols: list[Protocol]
) -> list[str]:
    """What `candidate` breaks that `current` does not (shipped problems are not the clinic's).

    Each problem names its step, language and channel.
    """
    problems = unknown_variables(candidate)
    before = {(r.step, r.lang, r.channel): r.problems for r in look_rows(base, current, sample,
                                                                            protocols)}  # fmt: skip
    for row in look_rows(base, candidate, sample, protocols):
        new = [
            p for p in row.problems if p not in before.get((row.step, row.lang, row.channel), [])
        ]
        problems += [f"{row.channel} {row.step} ({row.lang}): {p}" for p in new]
    return problems
