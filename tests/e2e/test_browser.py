"""The board in a real browser: Playwright drives Debian's Chromium (BMAC_CHROMIUM, default
/usr/bin/chromium; `.ci/run` installs it) against `bmac serve`'s app on a free port: sign in,
see the board, a step logged by `bmac` in another process shows within the refresh period,
the countdown's colours as the clock moves, a case page, sign out. Screenshots go to
BMAC_SCREENSHOTS (docs/ for the README) or the test's folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bmac_workflow.services import site_settings
from bmac_workflow.timeutil import from_iso, utcnow
from tests.conftest import PINS, Clinic, advance_to, credentials
from tests.walk import step_args, step_values

pytestmark = pytest.mark.slow
CHROMIUM = os.environ.get("BMAC_CHROMIUM", "/usr/bin/chromium")


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(clinic: Clinic) -> Iterator[tuple[str, Clock]]:
    import uvicorn

    from bmac_workflow.web.app import create_app

    clock = Clock()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(clinic.db, clock), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", clock
    server.should_exit = True
    thread.join(10)


def test_the_board_in_chromium(clinic: Clinic, served: tuple[str, Clock], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: apt-get install chromium"
    shots = Path(os.environ.get("BMAC_SCREENSHOTS") or tmp_path)
    url, clock = served
    # Sessions of an hour, so that the clock can move 40 minutes between two views.
    site_settings.change("session_idle_minutes", "60", credentials("admin"), utcnow, clinic.db)
    running = clinic.open("P-0042", "left")
    # Its assessment overrides the candidacy rule: a deviation, open on the board.
    overridden = {"kl_grade": 1, "override_reason": "pain despite KL 1"}
    clinic.fire(running, "assess", {**step_values("assess", running), **overridden}, "surgeon")
    advance_to(clinic, running, "filtering")
    waiting = clinic.open("P-0077", "right")
    with clinic.uow(write=False) as uow:
        case = uow.repo.get_case(running)
    assert case is not None and case[0].harvested_at
    harvested = from_iso(case[0].harvested_at)
    clock.now = harvested + timedelta(minutes=60)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(url + "/")
        expect(page).to_have_url(url + "/login")
        page.fill("input[name=operator]", "surgeon")
        page.fill("input[name=pin]", PINS["surgeon"])
        page.click("button[type=submit]")
        expect(page).to_have_url(url + "/")

        countdown = page.locator(f'tr[data-case="{running}"] .countdown')
        expect(countdown).to_have_class("countdown ok")
        expect(countdown).to_have_text("60 min left")
        badge = page.locator(f'tr[data-case="{running}"] .deviations')
        expect(badge).to_have_text("1 open deviation")
        expect(page.locator("#deviations tr[data-deviation]")).to_have_count(1)
        expect(
            page.locator(f'table[data-state="imaging_assessment"] tr[data-case="{waiting}"]')
        ).to_be_visible()

        # A step logged by `bmac` in another process shows within the refresh period (10 s).
        env = {**os.environ, "BMAC_DATABASE_URL": clinic.url, "BMAC_OPERATOR": "surgeon",
               "BMAC_PIN": PINS["surgeon"]}  # fmt: skip
        logged = subprocess.run(
            [sys.executable, "-m", "bmac_workflow", *step_args("assess", waiting)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert logged.returncode == 0, logged.stderr
        moved = page.locator(f'table[data-state="marrow_collection"] tr[data-case="{waiting}"]')
        expect(moved).to_be_visible(timeout=12_000)

        clock.now = harvested + timedelta(minutes=100)
        expect(countdown).to_have_class("countdown amber", timeout=12_000)
        expect(countdown).to_have_text("20 min left")
        page.screenshot(path=str(shots / "board.png"), full_page=True)
        page.reload()
        clock.now = harvested + timedelta(minutes=130)
        expect(countdown).to_have_class("countdown red", timeout=12_000)
        expect(countdown).to_have_text("passed 10 min ago")

        page.click(f'tr[data-case="{running}"] a')
        expect(page).to_have_url(f"{url}/cases/{running}")
        expect(page.locator("h1")).to_contain_text("P-0042")
        expect(page.locator("#timeline tr[data-seq]")).to_have_count(
            clinic_entries(clinic, running)
        )
        expect(page.locator("#timeline")).to_contain_text("Surgeon Name, surgeon")
        expect(page.locator("#verified")).to_have_text("never run")
        deviation = page.locator("#deviations tr[data-deviation]")
        expect(deviation).to_contain_text("candidacy")
        expect(deviation).to_contain_text("pain despite KL 1")
        page.screenshot(path=str(shots / "case-page.png"), full_page=True)

        page.click("text=Sign out")
        expect(page).to_have_url(url + "/login")
        page.goto(url + "/")
        expect(page).to_have_url(url + "/login")
        browser.close()


def clinic_entries(clinic: Clinic, case_id: int) -> int:
    with clinic.uow(write=False) as uow:
        return len(uow.repo.entries(case_id))
