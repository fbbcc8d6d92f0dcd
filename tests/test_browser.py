"""A real browser: headless Chromium logs in with an account, reads the overview, retries."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy.engine import Engine

from reminders.outbox import lifecycle as lc
from tests.harness import BIN, ROOT, ServiceProcess, service_env
from tests.opsclient import PASSWORD, add_operator
from tests.opsdata import Outbox
from tests.processes import free_port, wait_ready

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "tests" / "screenshots"
TOKEN = "browser-test-operator-token-of-32-chars"


def install_chromium() -> str:
    """Install Debian's chromium and chromium-driver when missing; '' or why it failed."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return ""
    if shutil.which("apt-get") is None:
        return "apt-get is not available"
    for argv in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "chromium", "chromium-driver"],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(argv)} failed: {done.stderr[-500:]}"
    return "" if CHROMIUM.exists() and CHROMEDRIVER.exists() else "packages installed no binary"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    problem = install_chromium()
    if problem:
        message = (
            f"headless Chromium unavailable ({problem}); apt-get install chromium chromium-driver"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"chromium-{os.getpid()}"
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def api_url(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> Iterator[str]:
    env = service_env(database_url, redis_url, key_prefix, tmp_path, REMINDERS_OPERATOR_TOKEN=TOKEN)
    port = free_port()
    api = ServiceProcess(
        [str(BIN / "reminders"), "api", "--port", str(port)], env, tmp_path / "api.log"
    )
    api.start()
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", api.process)
        yield f"http://127.0.0.1:{port}"
    finally:
        api.stop()


def submit_and_wait(browser, button) -> None:
    """Click a form's button and wait for the page it leads to, not the page it left."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = browser.find_element("tag name", "html")
    button.click()
    WebDriverWait(browser, 30).until(expected_conditions.staleness_of(page))
    WebDriverWait(browser, 30).until(
        lambda driver: driver.execute_script("return document.readyState") == "complete"
    )


def test_an_operator_logs_in_reads_the_overview_and_retries_a_dead_message(
    browser, api_url: str, engine: Engine, redis_url: str, key_prefix: str
) -> None:
    from selenium.webdriver.common.by import By

    box, now = Outbox(engine), datetime.now(UTC)
    box.add(lc.DELIVERED, due_at=now - timedelta(days=3), delivered_at=now - timedelta(days=3))
    box.add(lc.SKIPPED, "email", due_at=now - timedelta(days=2), reason="patient opted out")
    dead = box.add(lc.DEAD, due_at=now - timedelta(days=1), updated_at=now)
    failure = dict(updated_at=now, last_error="mailbox unavailable")
    box.add(lc.FAILED, "email", due_at=now - timedelta(hours=12), **failure)
    box.add(lc.PENDING, due_at=now - timedelta(minutes=7))  # overdue: backlog 1, lag 7 min
    box.add(lc.PENDING, due_at=now + timedelta(days=4))  # upcoming
    queue = redis.Redis.from_url(redis_url)
    queue.rpush(f"{key_prefix}reminders", "t1", "t2")
    SCREENSHOTS.mkdir(exist_ok=True)
    add_operator(engine, "maria", "admin")

    browser.get(f"{api_url}/ops")
    assert "Operator login" in browser.page_source
    browser.find_element(By.NAME, "username").send_keys("maria")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    submit_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))

    assert "signed in as maria" in browser.find_element(By.TAG_NAME, "header").text
    assert browser.find_element(By.ID, "queue-reminders").text.startswith("2")
    assert browser.find_element(By.ID, "backlog").text.startswith("1")
    assert browser.find_element(By.ID, "problems-dead").text.startswith("1")
    assert browser.find_element(By.ID, "lag").text.startswith("7 min")
    assert "mailbox unavailable" in browser.find_element(By.ID, "failures").text
    browser.save_screenshot(str(SCREENSHOTS / "overview.png"))

    browser.get(f"{api_url}/ops/problems")
    submit_and_wait(browser, browser.find_element(By.ID, f"retry-{dead}"))
    assert "retry done" in browser.find_element(By.CLASS_NAME, "notice").text
    assert "op:maria" in browser.find_element(By.ID, "audit").text
    browser.save_screenshot(str(SCREENSHOTS / "problems.png"))
    assert box.row(dead).status == lc.PENDING

    browser.get(f"{api_url}/ops/patients/{box.patient.id}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline circle.mark")) == 6
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline circle.mark.skipped")
    browser.save_screenshot(str(SCREENSHOTS / "timeline.png"))
    queue.close()
