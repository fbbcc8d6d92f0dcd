"""Two clinics on one dashboard: clinic staff see and act on their own clinic only.

Every dashboard route is taken from the application itself, so a page or action added later
is tried here too: as staff of clinic B on clinic A's patients, messages, replies and audit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from reminders.api.app import ROUTERS
from reminders.db import session_scope
from reminders.inbound.replies import WARNING
from reminders.models import AUDIT, EVENTS, MESSAGES, REPLIES, ClinicEvent, InboundReply
from reminders.ops import audit
from reminders.outbox import lifecycle as lc
from tests.opsclient import BEARER, add_operator, login, make_client
from tests.opsdata import NOW, Outbox

# Routes that hold no clinic's data: signing in and out.
UNSCOPED = {("GET", "/ops/login"), ("POST", "/ops/login"), ("POST", "/ops/logout")}
ACTIONS = ("retry", "cancel", "resolve")


class TwoClinics:
    """Clinic A and clinic B, each with a patient, problem rows, an unsent alert and an entry."""

    def __init__(self, engine: Engine) -> None:
        self.a = Outbox(engine, "clinic-a", "p-aaa")
        self.b = Outbox(engine, "clinic-b", "p-bbb")
        self.a_rows = [self.a.add(s) for s in (lc.DEAD, lc.FAILED, lc.UNKNOWN, lc.PENDING)]
        self.b_rows = [self.b.add(s) for s in (lc.DEAD, lc.FAILED, lc.UNKNOWN, lc.PENDING)]
        with session_scope(engine) as session:
            for box in (self.a, self.b):
                session.add(
                    InboundReply(
                        clinic_id=box.clinic_id,
                        patient_id=box.patient.id,
                        from_number="+15555550123",
                        body="fever and pus",
                        kind=WARNING,
                        received_at=NOW,
                        alert_error=f"mailbox of {box.clinic_id} full",
                    )
                )
                audit.record(
                    session, "cli:ana", "clinic update", clinic_id=box.clinic_id,
                    target=f"clinic:{box.clinic_id}", detail=f"marker-{box.clinic_id}",
                )  # fmt: skip
                session.add(
                    ClinicEvent(
                        clinic_id=box.clinic_id,
                        event_type="message.failed",
                        webhook_id=f"msg_event-of-{box.clinic_id}",
                        status="dead",
                        attempts=8,
                        created_at=NOW,
                    )
                )
            audit.record(session, "cli:ana", "operator create", detail="marker-platform")

    def a_markers(self) -> list[str]:
        """Text that would show one of clinic A's things (or a platform-wide entry) on a page."""
        ids = [f'id="message-{m}"' for m in self.a_rows]
        return ["clinic-a", "p-aaa", "marker-platform", "event-of-clinic-a", *ids]

    def values(self, name: str) -> list[Any]:
        """Clinic A's values for a path parameter of a dashboard route."""
        known: dict[str, list[Any]] = {
            "patient_id": [self.a.patient.id],
            "message_id": self.a_rows,
            "action": list(ACTIONS),
            "clinic_id": ["clinic-a"],
        }
        if name not in known:
            pytest.fail(f"a dashboard route takes {{{name}}}: give this test clinic A's value")
        return known[name]


def snapshot(engine: Engine) -> list[list[Any]]:
    """Every message, reply, audit entry and clinic event as it is now."""
    with engine.connect() as connection:
        return [
            [tuple(r) for r in connection.execute(sa.select(table).order_by(table.c.id))]
            for table in (MESSAGES, REPLIES, AUDIT, EVENTS)
        ]


def dashboard_routes() -> list[tuple[str, str]]:
    """(method, path) of every operator route of the routers create_app includes."""
    found = []
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and (
                route.path.startswith("/ops") or route.path == "/metrics"
            ):
                found += [(method, route.path) for method in sorted(route.methods)]
    return found


def filled(path: str, world: TwoClinics) -> list[str]:
    """The path once for each combination of clinic A's values for its parameters."""
    paths = [path]
    for name in re.findall(r"{(\w+)}", path):
        paths = [p.replace(f"{{{name}}}", str(v)) for p in paths for v in world.values(name)]
    return paths


@pytest.fixture
def client(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> Iterator[TestClient]:
    settings = {"operator_token_can_act": True}
    with make_client(database_url, redis_url, key_prefix, tmp_path, **settings) as client:
        yield client


def test_clinic_b_staff_is_refused_every_page_and_action_on_clinic_a_and_nothing_is_written(
    client: TestClient, engine: Engine
) -> None:
    world = TwoClinics(engine)
    add_operator(engine, "bea", "staff", "clinic-b")
    csrf = login(client, "bea")
    before = snapshot(engine)
    routes = dashboard_routes()
    assert ("POST", "/ops/messages/{message_id}/{action}") in routes
    tried = 0
    for method, route in routes:
        if (method, route) in UNSCOPED:
            continue
        for path in filled(route, world):
            for query in ("", "?clinic=clinic-a", "?patient=p-aaa"):
                if method == "GET":
                    response = client.get(path + query)
                    allowed = (403,) if "{" in route else (200,)
                    if route == "/metrics":  # platform-wide; the /ops cookie never reaches it
                        allowed = (401, 403)
                else:
                    response = client.post(path + query, data={"csrf_token": csrf})
                    allowed = (403,)
                tried += 1
                assert response.status_code in allowed, (method, path + query)
                # What the operator typed may be echoed in the filter form; nothing else.
                shown = [m for m in world.a_markers() if m in response.text and m not in query]
                assert shown == [], (method, path + query, shown)
    assert snapshot(engine) == before
    assert tried >= 3 * (6 + 3 * len(world.a_rows))


def test_a_message_or_patient_that_does_not_exist_is_404_not_403(
    client: TestClient, engine: Engine
) -> None:
    TwoClinics(engine)
    add_operator(engine, "bea", "staff", "clinic-b")
    csrf = login(client, "bea")
    assert client.get("/ops/patients/999999").status_code == 404
    assert client.post("/ops/messages/999999/retry", data={"csrf_token": csrf}).status_code == 404


def test_clinic_staff_see_and_act_on_their_own_clinic(client: TestClient, engine: Engine) -> None:
    world = TwoClinics(engine)
    add_operator(engine, "bea", "staff", "clinic-b")
    csrf = login(client, "bea")
    messages = client.get("/ops/messages").text
    assert all(f'id="message-{m}"' in messages for m in world.b_rows)
    assert "<option >clinic-b</option>" in messages and "clinic-a" not in messages
    problems = client.get("/ops/problems").text
    assert "mailbox of clinic-b full" in problems and "marker-clinic-b" in problems
    assert client.get(f"/ops/patients/{world.b.patient.id}").status_code == 200
    dead = world.b_rows[0]
    done = client.post(f"/ops/messages/{dead}/retry", data={"csrf_token": csrf})
    assert done.status_code == 303 and "retry done" in unquote_plus(done.headers["location"])
    assert world.b.row(dead).status == lc.PENDING
    assert "staff of clinic-b" in client.get("/ops").text


def test_an_admin_and_the_token_see_every_clinic(client: TestClient, engine: Engine) -> None:
    world = TwoClinics(engine)
    add_operator(engine, "ada", "admin")
    login(client, "ada")
    for text in (
        client.get("/ops/messages").text,
        client.get("/ops/messages", headers=BEARER).text,
    ):
        assert all(f'id="message-{m}"' in text for m in world.a_rows + world.b_rows)
    audit_page = client.get("/ops/audit").text
    assert "marker-clinic-a" in audit_page and "marker-platform" in audit_page
    assert client.get(f"/ops/patients/{world.a.patient.id}").status_code == 200


def test_the_overview_counts_only_the_staff_members_clinic(
    client: TestClient, engine: Engine
) -> None:
    world = TwoClinics(engine)
    world.a.add(lc.DEAD)
    add_operator(engine, "bea", "staff", "clinic-b")
    login(client, "bea")
    page = client.get("/ops").text
    dead = re.search(r'id="problems-dead"[^>]*>\s*<b>(\d+)', page)
    assert dead and dead.group(1) == "1", page[:3000]


def test_the_audit_page_filters_by_action_within_the_clinic(
    client: TestClient, engine: Engine
) -> None:
    TwoClinics(engine)
    add_operator(engine, "bea", "staff", "clinic-b")
    login(client, "bea")
    page = client.get("/ops/audit?action=clinic+update").text
    assert "marker-clinic-b" in page and "marker-clinic-a" not in page
    assert "op:bea" not in page  # her login is another action
    logins = client.get("/ops/audit?action=login").text
    assert "op:bea" in logins and "marker-clinic-b" not in logins


def test_a_reply_no_clinic_was_told_of_shows_to_admins_only(
    client: TestClient, engine: Engine
) -> None:
    world = TwoClinics(engine)
    with session_scope(engine) as session:
        session.add(
            InboundReply(
                clinic_id=None,
                patient_id=None,
                from_number=world.a.patient.phone or "",
                sender="+15550009999",
                body="fever and pus",
                kind=WARNING,
                received_at=datetime.now(UTC),
            )
        )
    add_operator(engine, "ada", "admin")
    add_operator(engine, "bea", "staff", "clinic-b")
    login(client, "ada")
    unrouted = client.get("/ops/problems").text.split('id="unrouted"')[1].split("</table>")[0]
    assert "fever and pus" in unrouted and "clinic-a" in unrouted
    assert (world.a.patient.phone or "unset") not in unrouted
    login(client, "bea")
    assert 'id="unrouted"' not in client.get("/ops/problems").text
