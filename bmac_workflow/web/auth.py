"""Who a web request reads as: the session cookie, or (the API) a bearer token."""

from __future__ import annotations

from typing import Any

from ..services.sessions import Reader
from ..sessions import SessionKey

COOKIE = "bmac_session"
# The board's own refreshes carry this header: they do not keep an idle session alive.
REFRESH_HEADER = "x-bmac-refresh"


def key_of(request: Any, api: bool) -> SessionKey | None:
    """The session key a request presents: its cookie, or for the API its bearer token."""
    if api:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            return SessionKey.parse(token)
    cookie = request.cookies.get(COOKIE)
    return None if cookie is None else SessionKey.parse(cookie)


def reader_of(request: Any, api: bool = False) -> Reader:
    """The reader of a request: its channel (web or api), its key, whether it is the operator's
    doing (not the board refreshing itself)."""
    touch = request.headers.get(REFRESH_HEADER) != "1"
    return Reader("api" if api else "web", key_of(request, api), touch=touch)


def cookie_options(request: Any, max_age: int) -> dict[str, Any]:
    """The session cookie's flags: HttpOnly, SameSite=Strict, Secure over TLS."""
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "max_age": max_age,
        "path": "/",
    }
