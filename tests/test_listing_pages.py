"""The messages page pages by key: no overlap, no gap, filters and clinics respected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.ops import listing
from reminders.ops.listing import MessageFilter, find_messages
from reminders.outbox import lifecycle as lc
from tests.opsdata import NOW, Outbox


def walk(engine: Engine, wanted: MessageFilter, clinic_ids=None, size: int = 3) -> list[list[int]]:
    pages = []
    with Session(engine) as session:
        while True:
            page = find_messages(session, wanted, clinic_ids, size=size)
            pages.append([row.id for row in page.rows])
            if not page.next_after:
                return pages
            wanted = MessageFilter(**{**wanted.__dict__, "after": page.next_after})


def test_pages_cover_every_row_once_in_due_order_ties_broken_by_id(engine: Engine) -> None:
    box = Outbox(engine)
    same = NOW + timedelta(hours=1)
    ids = [
        box.add(lc.PENDING, due_at=same if i % 3 == 0 else NOW + timedelta(hours=i))
        for i in range(8)
    ]
    pages = walk(engine, MessageFilter(order="due"))
    flat = [i for page in pages for i in page]
    assert sorted(flat) == sorted(ids) and len(pages) == 3
    with Session(engine) as session:
        rows = find_messages(session, MessageFilter(order="due"), size=10).rows
    assert [r.id for r in rows] == flat
    assert [r.due_at for r in rows] == sorted(r.due_at for r in rows)
    latest_first = [i for page in walk(engine, MessageFilter()) for i in page]
    assert latest_first == flat[::-1]


def test_filters_and_clinics_hold_on_every_page(engine: Engine) -> None:
    a = Outbox(engine, "clinic-a", "p-a")
    b = Outbox(engine, "clinic-b", "p-b")
    mine = [a.add(lc.FAILED, due_at=NOW + timedelta(minutes=i)) for i in range(5)]
    a.add(lc.SENT)
    b.add(lc.FAILED)
    pages = walk(engine, MessageFilter(status="failed"), {"clinic-a"}, size=2)
    assert sorted(i for page in pages for i in page) == mine
    by_patient = walk(engine, MessageFilter(patient="p-b"), None, size=2)
    assert len([i for page in by_patient for i in page]) == 1


def test_a_forged_cursor_is_refused_by_name() -> None:
    with pytest.raises(listing.BadCursorError, match="after: not a page cursor"):
        listing.parse_cursor("1 OR 1=1")
