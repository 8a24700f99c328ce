"""Alembic environment: the CLI hands in a connection; `alembic` on the command line builds one
from `-x url=...`, BMAC_DATABASE_URL or alembic.ini."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from bmac_workflow.store.tables import metadata

config = context.config
target_metadata = metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them: batch mode does that (and loses triggers, which
        # every migration that batches a log table must re-create).
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "BMAC_DATABASE_URL"
    )
    return url or config.get_main_option("sqlalchemy.url") or ""


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        from bmac_workflow.store.engine import make_engine

        engine = make_engine(_url()) if _url() else create_engine("sqlite://")
        with engine.begin() as connection:
            _run(connection)
