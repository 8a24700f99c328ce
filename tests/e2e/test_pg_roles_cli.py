"""On a real PostgreSQL: the roles `bmac db grant` sets up are refused what they must not do.

Each test creates its own two roles (unique names) on its own schema and drops them afterwards.
The roles are taken on with the connection option `role=...`, exactly as a workstation would log
in as them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import Bmac, Clinic, advance_to, pg_server_url
from tests.walk import step_args

ON_POSTGRESQL = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def roles(clinic: Clinic) -> Iterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:10]
    app, auditor = f"bmac_app_{tag}", f"bmac_aud_{tag}"
    yield app, auditor
    admin = create_engine(str(pg_server_url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for role in (app, auditor):
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
                conn.execute(text(f'DROP OWNED BY "{role}"'))
                conn.execute(text(f'DROP ROLE "{role}"'))
    admin.dispose()


def as_role(url: str, role: str) -> str:
    """The test schema's URL, logging in as `role` (the schema option stays)."""
    head, found, options = url.rpartition("options=")
    assert found, url
    return f"{head}options={options}{quote(' ')}-crole%3D{role}"


def schema_of(url: str) -> str:
    """The test's own schema, from its URL's search_path option."""
    return url.rpartition("search_path%3D")[2].split("&")[0].split("%20")[0]


def refused(engine: Engine, sql: str) -> str:
    """Run `sql` and return the SQLSTATE of the refusal (fails the test if it is allowed)."""
    with engine.connect() as conn:
        try:
            conn.execute(text(sql))
            conn.commit()
        except DBAPIError as exc:
            return str(getattr(exc.orig, "sqlstate", ""))
    pytest.fail(f"allowed: {sql}")


@ON_POSTGRESQL
def test_the_app_role_works_the_workflow_but_can_never_rewrite_the_log(
    clinic: Clinic, bmac: Bmac, roles: tuple[str, str]
) -> None:
    app, auditor = roles
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    followed = clinic.open(patient="P-0002")
    advance_to(clinic, followed, "follow_up")
    logged = clinic.count("entries")

    granted = bmac("db", "grant", "--app-role", app, "--auditor-role", auditor)
    assert granted.exit_code == 0, granted.stderr
    assert app in granted.stdout and auditor in granted.stdout

    as_app = Bmac(as_role(clinic.url, app))
    opened = as_app("case", "open", "--patient", "P-9", "--knee", "right", who="nurse")
    assert opened.exit_code == 0, opened.stderr
    filtered = as_app(*step_args("filter", case_id), who="nurse")
    assert filtered.exit_code == 0, filtered.stderr
    # A visit recorded rewrites the case's worklist rows: DELETE there is the app's to do.
    visit = as_app(*step_args("record_follow_up", followed, visit="1w"), who="nurse")
    assert visit.exit_code == 0, visit.stderr
    assert clinic.count("due_visits") == 5

    engine = create_engine(as_role(clinic.url, app))
    try:
        for table in ("entries", "operator_events", "checkpoints", "registry", "protocols"):
            assert refused(engine, f"UPDATE {table} SET id = id") == "42501"
            assert refused(engine, f"DELETE FROM {table}") == "42501"
            assert refused(engine, f"TRUNCATE {table}") == "42501"
        # Only a table's owner may switch its append-only triggers off.
        assert refused(engine, "ALTER TABLE entries DISABLE TRIGGER ALL") == "42501"
        assert refused(engine, "DELETE FROM cases") == "42501"
        assert refused(engine, "TRUNCATE due_visits") == "42501"
        assert refused(engine, "UPDATE due_visits SET visit = visit") == "42501"
        assert refused(engine, "DROP TABLE entries") == "42501"
        assert refused(engine, "UPDATE alembic_version SET version_num = 'x'") == "42501"
    finally:
        engine.dispose()
    assert bmac("audit", "verify").exit_code == 0
    assert clinic.count("entries") == logged + 3  # the new case, filtering, the visit


@ON_POSTGRESQL
def test_the_auditor_role_reads_and_verifies_but_writes_nothing(
    clinic: Clinic, bmac: Bmac, roles: tuple[str, str]
) -> None:
    app, auditor = roles
    case_id = clinic.open()
    advance_to(clinic, case_id, "centrifugation")
    assert bmac("db", "grant", "--app-role", app, "--auditor-role", auditor).exit_code == 0
    before = clinic.counts()

    as_auditor = Bmac(as_role(clinic.url, auditor))
    # The auditor's role cannot read sealed keys, so no PIN is checked through it: the reading
    # session is opened through the application's role (`bmac login` at a workstation) and
    # used through the auditor's; its reads are logged, the one thing that role may write.
    from bmac_workflow.cli import session_file
    from bmac_workflow.services.sessions import login
    from bmac_workflow.sessions import CLI
    from bmac_workflow.timeutil import utcnow
    from tests.conftest import credentials

    opened = login(credentials("auditor"), CLI, utcnow(), clinic.db)
    session_file.write(as_role(clinic.url, auditor), "auditor", opened.key)
    verified = as_auditor("audit", "verify", "--full")
    assert verified.exit_code == 0, verified.stderr
    status = as_auditor("case", "status", str(case_id), "--json")
    assert status.exit_code == 0 and '"centrifugation"' in status.stdout
    listed = as_auditor("operator", "list", "--json")
    assert listed.exit_code == 0 and '"nurse"' in listed.stdout, listed.stderr

    engine = create_engine(as_role(clinic.url, auditor))
    try:
        for sql in (
            "INSERT INTO protocols (version, sha256, content, loaded_at) VALUES ('x','y','z','t')",
            "UPDATE cases SET state = 'closed'",
            "UPDATE operators SET failed_pins = 0",
            "DELETE FROM operator_events",
            "TRUNCATE checkpoints",
        ):
            # Refused by privilege (42501) or, first, by the read-only session (25006).
            assert refused(engine, sql) in {"42501", "25006"}
        # The sealed signing keys (and old PIN hashes) are the application's alone to read.
        for secret in ("sealed_key", "pin_hash", "*"):
            assert refused(engine, f"SELECT {secret} FROM operators") == "42501"
        with engine.connect() as conn:
            keys = conn.execute(text("SELECT id, public_key FROM operators")).all()
        assert len(keys) == 6 and all(key for _, key in keys)  # one per test operator
        with engine.connect() as conn:
            conn.execute(text("SET TRANSACTION READ WRITE"))
            with pytest.raises(DBAPIError) as denied:
                conn.execute(text("UPDATE cases SET state = 'closed'"))
        assert getattr(denied.value.orig, "sqlstate", "") == "42501"
    finally:
        engine.dispose()
    assert clinic.counts() == before


@ON_POSTGRESQL
def test_db_grant_refuses_an_app_role_that_owns_the_tables(
    clinic: Clinic, bmac: Bmac, roles: tuple[str, str]
) -> None:
    with clinic.engine.connect() as conn:
        owner = conn.execute(
            text(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'entries' "
                "AND schemaname = current_schema()"
            )
        ).scalar_one()
    result = bmac("db", "grant", "--app-role", owner, "--auditor-role", roles[1])
    assert result.exit_code == 5
    assert result.stderr.startswith(f"error: role {owner} owns the bmac tables")


@ON_POSTGRESQL
def test_db_grant_print_shows_the_sql_and_changes_nothing(
    clinic: Clinic, bmac: Bmac, roles: tuple[str, str]
) -> None:
    app, auditor = roles
    printed = bmac("db", "grant", "--app-role", app, "--auditor-role", auditor, "--print")
    assert printed.exit_code == 0
    grants = [line for line in printed.stdout.splitlines() if line.startswith("GRANT")]
    assert any(line.startswith("GRANT UPDATE ON") and '."cases"' in line for line in grants)
    assert not any(word in line for line in grants for word in ("TRUNCATE", "ALL PRIVILEGES"))
    # DELETE only on the follow-up worklist, whose rows come and go with each case.
    deletes = [line for line in grants if "DELETE" in line]
    schema = schema_of(clinic.url)
    assert deletes == [
        f'GRANT DELETE ON "{schema}"."due_visits", "{schema}"."case_materials" TO "{app}";'
    ]
    assert not any("UPDATE" in line and '."entries"' in line for line in grants)
    # The auditor reads the operators' public columns only.
    operators = [line for line in grants if '."operators"' in line and auditor in line]
    assert len(operators) == 1 and operators[0].startswith('GRANT SELECT ("id", "name"')
    assert '"public_key"' in operators[0]
    assert '"sealed_key"' not in operators[0] and '"pin_hash"' not in operators[0]
    with clinic.engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": app})
        assert found.first() is None
