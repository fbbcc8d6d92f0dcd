"""docker-compose.yml runs the same commands `make up` and the tests run."""

from __future__ import annotations

from pathlib import Path

import yaml

from reminders.cli.supervisor import SERVICES

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_api_worker_and_beat_run_the_commands_make_up_runs() -> None:
    services = compose()
    for name, argv in SERVICES.items():
        expected = [Path(argv[0]).name, *argv[1:]]
        assert services[name]["command"][: len(expected)] == expected, name


def test_migrate_runs_the_upgrade_command_and_the_app_waits_for_it() -> None:
    services = compose()
    assert services["migrate"]["command"] == ["reminders", "db", "upgrade"]
    for name in SERVICES:
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_redis_keeps_an_append_only_file_and_never_evicts() -> None:
    command = compose()["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_every_service_of_the_design_is_present() -> None:
    assert {"postgres", "redis", "api", "worker", "beat", "mailpit", "flower"} <= set(compose())


def test_flower_watches_the_same_celery_app_on_its_own_port_behind_a_password() -> None:
    services = compose()
    flower = services["flower"]
    assert flower["command"][:4] == ["celery", "-A", "workers", "flower"]
    assert "--port=5555" in flower["command"] and flower["ports"] == ["5555:5555"]
    assert any(arg.startswith("--basic-auth=") for arg in flower["command"])
    taken = {
        port for name, s in services.items() if name != "flower" for port in s.get("ports", [])
    }
    assert not {p.split(":")[0] for p in taken} & {"5555"}
    # Same broker and key prefix settings as the workers it watches.
    assert flower["environment"] == services["worker"]["environment"]
    assert flower["depends_on"]["redis"]["condition"] == "service_healthy"
