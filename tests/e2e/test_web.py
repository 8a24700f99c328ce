"""The web board and JSON API through FastAPI's TestClient: no page or API without a session or
token, the cookie's flags, expiry, stored text escaped, wrong PINs lock like the CLI, every
other method 405, and every view in the access log."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from bmac_workflow.services import board, deviations, reads
from bmac_workflow.services.sessions import Reader
from bmac_workflow.timeutil import utcnow
from bmac_workflow.web.app import create_app
from tests.conftest import PINS, Clinic, advance_to, credentials
from tests.walk import step_values

PAGES = ("/", "/board", "/cases/1", "/docs")
API = ("/api/cases", "/api/cases/1", "/api/cases/1/timeline", "/api/followups/due", "/openapi.json")


class Clock:
    """The web app's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def web(clinic: Clinic, clock: Clock) -> TestClient:
    clinic.open("P-0001")
    return TestClient(create_app(clinic.db, clock), base_url="http://testserver")


def sign_in(web: TestClient, who: str = "nurse", pin: str | None = None) -> Callable[..., object]:
    response = web.post(
        "/login", data={"operator": who, "pin": pin or PINS[who]}, follow_redirects=False
    )
    return response  # type: ignore[return-value]


def access(clinic: Clinic) -> list[dict[str, object]]:
    with clinic.uow(write=False) as uow:
        return [json.loads(r.body) for r in uow.repo.access_rows()]


@pytest.mark.parametrize("path", PAGES)
def test_no_page_without_a_session_only_the_login_page(web: TestClient, path: str) -> None:
    response = web.get(path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert "<form" in web.get("/login").text


@pytest.mark.parametrize("path", API)
def test_no_api_without_a_session_or_token(web: TestClient, path: str) -> None:
    response = web.get(path, headers={"Authorization": "Bearer bmac1.nope.nope"})
    assert response.status_code == 401 and "sign in" in response.json()["error"]


def test_the_session_cookie_is_httponly_samesite_strict_and_secure_over_tls(
    clinic: Clinic, clock: Clock
) -> None:
    clinic.open()
    plain = TestClient(create_app(clinic.db, clock), base_url="http://testserver")
    cookie = sign_in(plain).headers["set-cookie"]  # type: ignore[attr-defined]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    tls = TestClient(create_app(clinic.db, clock), base_url="https://testserver")
    assert "Secure" in sign_in(tls).headers["set-cookie"]  # type: ignore[attr-defined]


def test_a_session_ends_after_15_idle_minutes_and_the_board_refresh_does_not_keep_it(
    web: TestClient, clock: Clock
) -> None:
    assert sign_in(web).status_code == 303  # type: ignore[attr-defined]
    assert web.get("/").status_code == 200
    clock.now += timedelta(minutes=10)
    refresh = {"X-Bmac-Refresh": "1"}
    assert web.get("/board", headers=refresh).status_code == 200
    clock.now += timedelta(minutes=6)  # 16 minutes since the operator's last view
    assert web.get("/board", headers=refresh, follow_redirects=False).status_code == 303
    assert web.get("/api/cases").status_code == 401


def test_logout_ends_the_session(web: TestClient) -> None:
    sign_in(web)
    cookie = web.cookies.get("bmac_session")
    assert web.post("/logout", follow_redirects=False).status_code == 303
    web.cookies.set("bmac_session", cookie or "")
    assert web.get("/api/cases").status_code == 401


def test_wrong_pins_over_the_web_lock_like_the_cli(web: TestClient, clinic: Clinic) -> None:
    for _ in range(5):
        refused = sign_in(web, pin="999999")
        assert refused.status_code == 401  # type: ignore[attr-defined]
    still = sign_in(web)
    assert still.status_code == 401 and "locked" in still.text  # type: ignore[attr-defined]
    with clinic.uow(write=False) as uow:
        nurse = uow.repo.operator("nurse")
    assert nurse is not None and nurse.locked_until is not None


def test_a_script_in_a_reason_renders_as_text(web: TestClient, clinic: Clinic) -> None:
    case = clinic.open("P-0002")
    clinic.fire(case, "cancel", {}, "surgeon", reason="<script>alert('x')</script>")
    sign_in(web)
    page = web.get(f"/cases/{case}").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


def test_stored_text_on_the_board_renders_as_text(web: TestClient, clinic: Clinic) -> None:
    clinic.open("<b>Ünal&Co</b>")
    sign_in(web)
    page = web.get("/").text
    assert "<b>" not in page
    # Masked (first two and last two characters), escaped, beyond ASCII as references.
    assert "&lt;b&#8226;&#8226;&#8226;&#8226;b&gt;" in page


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_no_route_writes_any_other_method_is_405(web: TestClient, method: str) -> None:
    sign_in(web)
    for path in ("/", "/cases/1", "/api/cases", "/api/cases/1", "/api/cases/1/timeline"):
        assert getattr(web, method)(path).status_code == 405, path


def test_the_api_has_the_cli_json_shapes_and_takes_a_token(
    web: TestClient, clinic: Clinic, clock: Clock
) -> None:
    from bmac_workflow.services.sessions import login
    from bmac_workflow.sessions import TOKEN

    token = login(credentials("auditor"), TOKEN, clock(), clinic.db).key.token()
    bearer = {"Authorization": f"Bearer {token}"}
    reader = Reader("cli", credentials=credentials("nurse"))
    now = clock()
    assert web.get("/api/cases", headers=bearer).json() == json.loads(
        json.dumps(reads.case_list(reader, None, 50, 1, now, clinic.db)[0])
    )
    assert web.get("/api/cases/1", headers=bearer).json()["patient_ref"] == "P-0001"
    assert web.get("/api/cases/1/timeline", headers=bearer).json()[0]["action"] == "open"
    assert web.get("/api/followups/due?within=7d", headers=bearer).json() == []
    assert web.get("/api/cases/99", headers=bearer).status_code == 404
    assert web.get("/api/cases?state=nowhere", headers=bearer).status_code == 422
    assert (
        "/api/cases/{case_id}/timeline" in web.get("/openapi.json", headers=bearer).json()["paths"]
    )
    # A token reads the API only: it is no web session.
    web.cookies.set("bmac_session", token)
    assert web.get("/", follow_redirects=False).status_code == 303
    clock.now += timedelta(hours=8, minutes=1)
    assert web.get("/api/cases", headers=bearer).status_code == 401


def test_the_access_log_holds_every_view_with_operator_and_channel(
    web: TestClient, clinic: Clinic
) -> None:
    sign_in(web, "surgeon")
    before = len(access(clinic))
    web.get("/")
    web.get("/cases/1")
    web.get("/api/cases/1")
    web.get("/api/cases/1/timeline")
    logged = [(e["operator"], e["channel"], e["what"], e["cases"]) for e in access(clinic)[before:]]
    assert logged == [
        ("surgeon", "web", "board", [1]),
        ("surgeon", "web", "case page", [1]),
        ("surgeon", "api", "case status", [1]),
        ("surgeon", "api", "case timeline", [1]),
    ]
    # The board shows a masked patient; the case page the full reference.
    assert "P-0001" not in web.get("/board").text
    assert "P-0001" in web.get("/cases/1").text


def test_a_refresh_showing_the_same_cases_is_not_logged_again(
    web: TestClient, clinic: Clinic
) -> None:
    sign_in(web)
    web.get("/")
    count = len(access(clinic))
    refresh = {"X-Bmac-Refresh": "1"}
    web.get("/board", headers=refresh)
    assert len(access(clinic)) == count
    clinic.open("P-0003")
    web.get("/board", headers=refresh)
    assert access(clinic)[-1]["cases"] == [1, 2]


def test_the_board_shows_a_step_logged_since_its_last_view(
    web: TestClient, clinic: Clinic, clock: Clock
) -> None:
    # The board keeps each case at the version it last showed: a step moves the version.
    sign_in(web, "surgeon")
    first = web.get("/").text
    assert '<table data-state="imaging_assessment">' in first and "marrow collection" not in first
    advance_to(clinic, 1, "marrow_collection")
    clock.now = utcnow()
    board = web.get("/board").text
    assert "imaging_assessment" not in board
    assert '<table data-state="marrow_collection">' in board and 'data-case="1"' in board
    assert "Surgeon Name (surgeon)" in board  # who signed the assessment


@pytest.mark.parametrize(("minutes", "colour"), [(60, "ok"), (100, "amber"), (130, "red")])
def test_the_countdown_colours(minutes: int, colour: str) -> None:
    assert board.countdown(120 - minutes) == colour


def _row(page: str, attribute: str, value: int) -> str:
    found = re.search(rf'<tr {attribute}="{value}">.*?</tr>', page, re.S)
    assert found, f"no row {attribute}={value}"
    return found.group(0)


def test_the_board_and_the_case_page_show_deviations_and_log_their_cases(
    web: TestClient, clinic: Clinic, clock: Clock
) -> None:
    # A surgeon's override at the assessment opens a deviation: case 1 (in flight), case 2 (in
    # follow-up: its visit on the worklist) and case 3 (cancelled since: on the board for its
    # deviation alone); case 4, in flight, has none.
    why = {"kl_grade": 1, "override_reason": "<b>pain</b> despite KL 1"}
    clinic.fire(1, "assess", {**step_values("assess", 1), **why}, "surgeon")
    second, third = clinic.open("P-0002"), clinic.open("P-0003")
    for case_id in (second, third):
        clinic.fire(case_id, "assess", {**step_values("assess", case_id), **why}, "surgeon")
    advance_to(clinic, second, "follow_up")
    clinic.fire(third, "cancel", {}, "surgeon", reason="patient withdrew consent")
    fourth = clinic.open("P-0004")
    clock.now = utcnow()
    sign_in(web, "qa")
    before = len(access(clinic))
    board_page = web.get("/").text
    assert "1 open deviation<" in _row(board_page, "data-case", 1)
    assert "1 open deviation<" in _row(board_page, "data-case", second)  # its visit's row
    assert "deviation" not in _row(board_page, "data-case", fourth)
    listed = re.findall(r'<tr data-deviation="(\d+)">(.*?)</tr>', board_page, re.S)
    assert [number for number, _ in listed] == ["1", "2", "3"]
    assert all(">candidacy<" in row and ">surgeon<" in row for _, row in listed)
    assert f'href="/cases/{third}"' in listed[2][1]
    assert "P-0003" not in board_page  # masked, as everywhere on the board
    # Every case shown is logged once, case 3 for its deviation alone.
    logged = [(e["what"], e["cases"]) for e in access(clinic)[before:]]
    assert logged == [("board", [1, fourth, second, third])]

    opened = _row(web.get("/cases/1").text, "data-deviation", 1)
    assert ">candidacy<" in opened and "by surgeon" in opened and ">open<" in opened
    assert "&lt;b&gt;pain&lt;/b&gt; despite KL 1" in opened  # stored text is text
    assert access(clinic)[-1]["what"] == "case page"

    deviations.close(1, "KL under-read", "second reading", credentials("qa"), utcnow, clinic.db)
    clock.now = utcnow()
    board_page = web.get("/board").text
    assert "open deviation" not in _row(board_page, "data-case", 1)
    assert re.findall(r'<tr data-deviation="(\d+)">', board_page) == ["2", "3"]
    closed = _row(web.get("/cases/1").text, "data-deviation", 1)
    assert "closed by qa" in closed and ">open<" not in closed
    assert "root cause: KL under-read" in closed and "action: second reading" in closed
    assert web.get(f"/cases/{fourth}").text.count("No deviation.") == 1


def test_with_no_open_deviation_the_board_says_so(web: TestClient) -> None:
    sign_in(web)
    page = web.get("/").text
    assert "No open deviation." in page and "open deviation<" not in page
