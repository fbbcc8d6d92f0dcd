"""Per-clinic renderers for the worker, rebuilt only when a clinic's overrides change."""

from __future__ import annotations

import threading
from collections.abc import Collection

from sqlalchemy.engine import Engine

from reminders.delivery.rendering import Renderer
from reminders.intake.clinic_looks import current_look, look_stamps

NO_OVERRIDES = (0, 0)


class LookCache:
    """The renderer for each clinic: shipped, or with its overrides; refresh() once per batch.

    A refresh is one query for the batch's clinics (their newest override row ids); a clinic's
    overrides are read again only when that stamp moved, so a worker does not query per message.
    """

    def __init__(self, engine: Engine, base: Renderer) -> None:
        self.engine, self.base = engine, base
        self._renderers: dict[str, tuple[tuple[int, int], Renderer]] = {}
        self._lock = threading.Lock()

    def refresh(self, clinic_ids: Collection[str]) -> None:
        """Bring these clinics' renderers up to date with the database."""
        with self.engine.connect() as connection, self._lock:
            stamps = look_stamps(connection, clinic_ids)
            for clinic_id in set(clinic_ids):
                stamp = stamps.get(clinic_id, NO_OVERRIDES)
                cached = self._renderers.get(clinic_id)
                if cached is not None and cached[0] == stamp:
                    continue
                renderer = self.base
                if stamp != NO_OVERRIDES:
                    renderer = self.base.for_clinic(current_look(connection, clinic_id))
                self._renderers[clinic_id] = (stamp, renderer)

    def renderer(self, clinic_id: str) -> Renderer:
        """The clinic's renderer as of the last refresh (read now if never refreshed)."""
        cached = self._renderers.get(clinic_id)
        if cached is None:
            self.refresh([clinic_id])
            cached = self._renderers[clinic_id]
        return cached[1]
