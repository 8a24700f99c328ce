"""`bmac serve`: the read-only web board and JSON API."""

from __future__ import annotations

import gc

import click

from ..errors import BmacError
from .app import App


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.pass_obj
def serve(app: App, host: str, port: int) -> None:
    """Serve the board (cases in flight, the window countdown, visits due), each case's page
    and the JSON API (docs at /docs), read-only, to operators signed in with their PIN.

    Needs the `web` extra: pip install 'bmac-workflow[web]'. Put it behind a TLS proxy to serve
    other machines (the session cookie is then marked Secure).

    \b
    Example:
      bmac serve --port 8080
    """
    try:
        import uvicorn

        from ..web.app import create_app
    except ImportError as exc:
        raise BmacError(
            f"bmac serve needs the web extra ({exc.name} is missing): "
            "pip install 'bmac-workflow[web]'"
        ) from None
    web = create_app(app.database())
    # The app, its routes and templates live as long as the server: the collector need not
    # walk them at each full collection (a board view makes thousands of short-lived objects).
    gc.freeze()
    click.echo(f"serving the board on http://{host}:{port}/ (Ctrl-C stops)", err=True)
    uvicorn.run(web, host=host, port=port, log_level="warning", proxy_headers=True)
