"""docker-compose.yml runs the same commands `make up` and the tests run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from reminders.cli.supervisor import SERVICES
from tests.processes import served_api

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


APP_SERVICES = ("migrate", "api", "worker", "beat", "flower")
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]+\}")


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
    assert "--port=5555" in flower["command"] and flower["ports"] == ["127.0.0.1:5555:5555"]
    assert any(arg.startswith("--basic-auth=${FLOWER_BASIC_AUTH:?") for arg in flower["command"])
    taken = {
        port for name, s in services.items() if name != "flower" for port in s.get("ports", [])
    }
    assert not {p.split(":")[-2] for p in taken} & {"5555"}
    # Same broker and key prefix settings as the workers it watches.
    assert flower["environment"] == services["worker"]["environment"]
    assert flower["depends_on"]["redis"]["condition"] == "service_healthy"


def test_no_example_secret_works_every_secret_is_required_and_listed_in_env_example() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text
    required = set(REQUIRED.findall(text))
    assert {
        "POSTGRES_PASSWORD", "REMINDERS_OPERATOR_TOKEN", "REMINDERS_SECRET_KEY",
        "REMINDERS_ENCRYPTION_KEYS", "FLOWER_BASIC_AUTH", "MAILPIT_UI_AUTH",
    } <= required  # fmt: skip
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert required <= set(example)
    assert all(example[name] == "" for name in required)  # no real (or working) values
    environment = compose()["api"]["environment"]
    for name in ("REMINDERS_OPERATOR_TOKEN", "REMINDERS_SECRET_KEY", "REMINDERS_ENCRYPTION_KEYS"):
        assert REQUIRED.fullmatch(environment[name]), name


def test_one_image_is_built_once_and_runs_every_app_service() -> None:
    services = compose()
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    assert [name for name, s in services.items() if "build" in s] == ["migrate"]
    assert all(services[name].get("pull_policy") == "never" for name in APP_SERVICES[1:])


def test_flower_and_mailpit_listen_on_loopback_behind_a_password() -> None:
    services = compose()
    for name in ("flower", "mailpit"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name
    assert REQUIRED.fullmatch(services["mailpit"]["environment"]["MP_UI_AUTH"])


def test_mailpits_smtp_port_is_the_one_the_readme_gives() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "REMINDERS_SMTP_URL=smtp://localhost:1025" in readme
    assert "127.0.0.1:1025:1025" in compose()["mailpit"]["ports"]


def healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    """The api service's healthcheck command, pointed at `port`."""
    argv = compose()["api"]["healthcheck"]["test"]
    assert argv[:2] == ["CMD", "python"]
    command = [sys.executable, *(arg.replace(":8000/", f":{port}/") for arg in argv[2:])]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def test_the_api_healthcheck_passes_on_a_ready_api_and_fails_once_it_stops(
    tmp_path: Path, redis_url: str, key_prefix: str
) -> None:
    from tests.harness import BIN, service_env

    assert "/readyz" in " ".join(compose()["api"]["healthcheck"]["test"])
    env = service_env(f"sqlite:///{tmp_path / 'api.db'}", redis_url, key_prefix, tmp_path)
    subprocess.run([str(BIN / "reminders"), "db", "upgrade"], env=env, check=True, timeout=60)
    with served_api(env, tmp_path / "api.log") as port:
        assert healthcheck(port).returncode == 0
    assert healthcheck(port).returncode == 1
