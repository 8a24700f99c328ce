"""The JSON API: the same shapes as the command line's `--json` (docs/commands.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request

from ..services import reads
from .auth import reader_of

if TYPE_CHECKING:
    from ..store.database import Database


def router(db: Database, clock: Callable[[], datetime]) -> APIRouter:
    """The API's routes over `db` (session cookie or `Authorization: Bearer` token)."""
    routes = APIRouter(prefix="/api", tags=["read"])

    @routes.get("/cases", summary="Cases, newest first (as `bmac case list --json`)")
    def cases(
        request: Request,
        state: str | None = None,
        limit: int = Query(50, ge=1, le=1000),
        page: int = Query(1, ge=1),
    ) -> list[dict[str, Any]]:
        from ..states import workflow

        if state is not None and state not in workflow().states:
            from ..errors import InvalidData

            raise InvalidData(f"{state!r} is not a state; use one of: {workflow().states}")
        rows, _ = reads.case_list(reader_of(request, api=True), state, limit, page, clock(), db)
        return rows

    @routes.get("/cases/{case_id}", summary="A case's status (as `bmac case status --json`)")
    def status(request: Request, case_id: int) -> dict[str, Any]:
        return reads.case_status(reader_of(request, api=True), case_id, clock(), db)

    @routes.get(
        "/cases/{case_id}/timeline", summary="A case's entries (as `bmac case timeline --json`)"
    )
    def timeline(request: Request, case_id: int) -> list[dict[str, Any]]:
        return reads.case_timeline(reader_of(request, api=True), case_id, clock(), db)

    @routes.get("/followups/due", summary="Visits due (as `bmac followup due --json`)")
    def due(request: Request, within: str = "7d") -> list[dict[str, Any]]:
        return reads.followups_due(reader_of(request, api=True), _span(within), clock(), db)

    return routes


def _span(text: str) -> timedelta:
    """`7d`, `2w` or `12h` as a timedelta (exit 5's error otherwise: HTTP 422)."""
    from ..errors import InvalidData

    value = text.strip().lower()
    units = {"d": timedelta(days=1), "w": timedelta(weeks=1), "h": timedelta(hours=1)}
    if len(value) < 2 or not value[:-1].isdigit() or value[-1] not in units:
        raise InvalidData(f"within={text[:20]!r}: use a number and d, w or h, e.g. 7d")
    return int(value[:-1]) * units[value[-1]]
