"""Route dependencies are async: FastAPI runs a plain `def` one in a worker thread.

Only a dependency that blocks (the operator's account lookup) belongs in that thread.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from reminders.api.app import ROUTERS


def dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from dependencies(sub)


# Dependencies that block on the database, which must not run on the event loop.
BLOCKING = {"operator"}


def test_no_route_hands_a_dependency_to_a_thread_unless_it_blocks() -> None:
    routes = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    assert "/v1/clinics/{clinic_id}/events" in {route.path for route in routes}
    sync = {
        f"{route.path}: {sub.call.__name__}"
        for route in routes
        for sub in dependencies(route.dependant)
        if sub.call is not None
        and not inspect.iscoroutinefunction(sub.call)
        and sub.call.__name__ not in BLOCKING
    }
    assert sync == set()
