"""A real browser: headless Chromium logs in with an account, reads the overview, retries."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy.engine import Engine

from reminders.outbox import lifecycle as lc
from tests.harness import BIN, ROOT, ServiceProcess, clean_env, service_env
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


@pytest.fixture
def made_up(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`reminders up` on embedded defaults in a folder of its own: its URL and what it printed."""
    port = free_port()
    env = clean_env(REMINDERS_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    log = tmp_path / "up.log"
    with log.open("wb") as handle:
        up = subprocess.Popen(
            [str(BIN / "reminders"), "up", "--port", str(port)],
            env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", up)
        yield f"http://127.0.0.1:{port}", log.read_text(errors="replace")
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)


def test_a_newcomer_logs_in_as_make_up_printed_from_the_root_address(
    browser, made_up: tuple[str, str]
) -> None:
    from selenium.webdriver.common.by import By

    base, printed = made_up
    found = re.search(r"log in as: (\S+)\s+password: (\S+)", printed)
    assert found, printed[:2000]
    browser.get(f"{base}/")  # the address a newcomer types first
    assert "Operator login" in browser.page_source
    browser.find_element(By.NAME, "username").send_keys(found.group(1))
    browser.find_element(By.NAME, "password").send_keys(found.group(2))
    submit_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    header = browser.find_element(By.TAG_NAME, "header").text
    assert f"signed in as {found.group(1)}" in header
    SCREENSHOTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "first-login.png"))


def submit_and_wait(browser, button) -> None:
    """Click a form's button and wait for the page it leads to, not the page it left."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = browser.find_element("tag name", "html")
    button.click()
    # While the old document is being replaced, chromedriver may answer the staleness probe
    # with "Node with given id does not belong to the document": poll again, it is going.
    WebDriverWait(browser, 30, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.staleness_of(page)
    )
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


def log_in(browser, api_url: str, username: str) -> None:
    """Sign in through the login form (the account is made with add_operator)."""
    from selenium.webdriver.common.by import By

    browser.get(f"{api_url}/ops/login")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    submit_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert f"signed in as {username}" in browser.find_element(By.TAG_NAME, "header").text


def fits_the_window(browser) -> bool:
    """No horizontal scrolling of the page itself at this window width."""
    return bool(
        browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1"
        )
    )


def test_an_operator_opens_a_message_and_the_replies_inbox_and_retries_from_the_message_page(
    browser, api_url: str, engine: Engine
) -> None:
    from selenium.webdriver.common.by import By

    from reminders.db import session_scope
    from reminders.inbound.replies import WARNING
    from reminders.models import InboundReply

    box, now = Outbox(engine), datetime.now(UTC)
    dead = box.add(lc.DEAD, step_key="day_1", due_at=now - timedelta(days=1), updated_at=now,
                   last_error="carrier refused the number")  # fmt: skip
    with session_scope(engine) as session:
        session.add(InboundReply(clinic_id=box.clinic_id, patient_id=box.patient.id,
                                 from_number="+15555550123", body="it is red and hot",
                                 kind=WARNING, received_at=now, alerted_at=now))  # fmt: skip
    SCREENSHOTS.mkdir(exist_ok=True)
    add_operator(engine, "maria", "admin")
    log_in(browser, api_url, "maria")

    browser.set_window_size(1024, 768)  # a small laptop: wide tables scroll inside the page
    try:
        for page in ("problems", "messages", "replies", f"messages/{dead}"):
            browser.get(f"{api_url}/ops/{page}")
            assert fits_the_window(browser), page
    finally:
        browser.set_window_size(1280, 900)
    browser.get(f"{api_url}/ops/messages")
    submit_and_wait(browser, browser.find_element(By.LINK_TEXT, str(dead)))
    assert "carrier refused the number" in browser.page_source
    assert "Rendered again" in browser.find_element(By.ID, "rerender-note").text
    assert browser.find_element(By.ID, "text").text.strip()
    assert fits_the_window(browser)
    browser.save_screenshot(str(SCREENSHOTS / "message.png"))
    submit_and_wait(browser, browser.find_element(By.ID, f"retry-{dead}"))
    assert "retry done" in browser.find_element(By.CLASS_NAME, "notice").text
    assert browser.find_element(By.ID, "status").text == lc.PENDING
    assert "op:maria" in browser.find_element(By.ID, "audit").text
    assert box.row(dead).status == lc.PENDING

    browser.find_element(By.LINK_TEXT, "Replies").click()
    inbox = browser.find_element(By.ID, "replies")
    warning = inbox.find_element(By.CSS_SELECTOR, "tr.attention")
    assert "it is red and hot" in warning.text and "alert emailed" in warning.text
    assert "+15555550123" not in browser.page_source
    assert fits_the_window(browser)
    browser.save_screenshot(str(SCREENSHOTS / "replies.png"))
