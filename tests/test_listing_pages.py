"""The messages page pages by key: no overlap, no gap, filters and clinics respected."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.ops import listing
from reminders.ops.listing import MessageFilter, find_messages
from reminders.outbox import lifecycle as lc
from tests.opsclient import BEARER, make_client
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


def test_the_page_links_the_next_one_and_names_a_forged_cursor(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    box = Outbox(engine)
    for i in range(listing.PAGE_SIZE + 1):
        box.add(lc.SENT, due_at=NOW - timedelta(minutes=i))
    with make_client(database_url, redis_url, key_prefix, tmp_path) as client:
        first = client.get("/ops/messages?status=sent", headers=BEARER).text
        match = re.search(r'href="\?([^"]*after=[^"]+)">next page', first)
        assert match is not None and "page 1 of" not in first
        second = client.get("/ops/messages?" + html.unescape(match.group(1)), headers=BEARER)
        assert second.status_code == 200 and "next page" not in second.text
        assert "first page" in second.text
        forged = client.get("/ops/messages?after=bogus", headers=BEARER)
    assert forged.status_code == 200 and "after: not a page cursor" in forged.text
