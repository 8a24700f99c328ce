"""The web app: FastAPI routes over the reading services, Jinja2 pages (every value escaped).

Only GET routes read; POST /login and /logout open and end a reading session. Nothing here
writes to the record: any other method is 405. A request without a session (or, for the API,
a token) gets the login page (the API: 401).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Form, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ..errors import BmacError, InvalidData, NotFound, NotPermitted
from ..services import board, reads
from ..services.sessions import login, logout
from ..services.signing import Credentials
from ..sessions import WEB
from ..timeutil import local, utcnow
from . import api, board_html
from .auth import COOKIE, cookie_options, key_of, reader_of

if TYPE_CHECKING:
    from ..store.database import Database

REFRESH_SECONDS = 10
_STATUS = {NotFound: 404, InvalidData: 422, NotPermitted: 401}


def create_app(db: Database, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    """The board and API over `db`; `clock` gives the time (tests move it)."""
    app = FastAPI(
        title="bmac board",
        summary="Read-only: the cases in flight, each case, the follow-up worklist.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    templates.env.filters["local"] = local
    templates.env.globals.update(
        case_rows=board_html.case_rows,
        due_rows=board_html.due_rows,
        deviation_rows=board_html.deviation_rows,
    )
    app.state.db, app.state.clock = db, clock

    @app.exception_handler(BmacError)
    def refused(request: Request, exc: BmacError) -> Response:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        if request.url.path.startswith("/api") or request.url.path == "/openapi.json":
            return JSONResponse({"error": exc.message}, status_code=status)
        if status == 401:
            return RedirectResponse("/login", status_code=303)
        page = templates.TemplateResponse(
            request, "error.html", {"message": exc.message}, status_code=status
        )
        return page

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> Response:
        return templates.TemplateResponse(request, "login.html", {"error": None})

    @app.post("/login", include_in_schema=False)
    def sign_in(request: Request, operator: str = Form(""), pin: str = Form("")) -> Response:
        try:
            opened = login(Credentials(operator.strip(), lambda: pin or None), WEB, clock(), db)
        except BmacError as exc:
            context = {"error": exc.message, "operator": operator}
            return templates.TemplateResponse(request, "login.html", context, status_code=401)
        done = RedirectResponse("/", status_code=303)
        done.set_cookie(COOKIE, opened.key.token(), **cookie_options(request, 12 * 3600))
        return done

    @app.post("/logout", include_in_schema=False)
    def sign_out(request: Request) -> Response:
        logout(key_of(request, api=False), clock(), db)
        done = RedirectResponse("/login", status_code=303)
        done.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return done

    kept = board.BoardCache()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def board_page(request: Request) -> Response:
        found = board.board(reader_of(request), clock(), db, kept)
        context = {**found, "refresh": REFRESH_SECONDS}
        return templates.TemplateResponse(request, "board.html", context)

    @app.get("/board", response_class=HTMLResponse, include_in_schema=False)
    def board_part(request: Request) -> Response:
        found = board.board(reader_of(request), clock(), db, kept)
        return templates.TemplateResponse(request, "_board.html", found)

    @app.get("/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    def case_page(request: Request, case_id: int) -> Response:
        found = board.case_page(reader_of(request), case_id, clock(), db)
        return templates.TemplateResponse(request, "case.html", found)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> Any:
        board.signed_in(reader_of(request, api=True), clock(), db)
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> Response:
        board.signed_in(reader_of(request), clock(), db)
        return get_swagger_ui_html(openapi_url="/openapi.json", title="bmac API")

    app.include_router(api.router(db, clock))
    return app


__all__ = ["create_app", "reads"]
