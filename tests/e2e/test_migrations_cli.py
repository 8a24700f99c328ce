"""`bmac` on databases at every stage of their schema: new, at another revision, foreign, and
one whose follow-up worklist went down a migration and up again."""

from __future__ import annotations

from sqlalchemy import text

from bmac_workflow.store import migrate
from bmac_workflow.store.engine import make_engine
from tests.conftest import Bmac, Clinic, advance_to
from tests.walk import step_values


def test_a_brand_new_database_is_created_by_the_first_command(db_url: str) -> None:
    result = Bmac(db_url)("case", "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "[]"
    engine = make_engine(db_url)
    try:
        assert migrate.current(engine) == migrate.HEAD
    finally:
        engine.dispose()


def test_a_database_at_another_revision_says_to_run_db_upgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    finally:
        engine.dispose()
    result = Bmac(db_url)("case", "list")
    assert result.exit_code == 1
    assert "run `bmac db upgrade`" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_foreign_database_is_refused_not_migrated(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE patients (id INTEGER)"))
    finally:
        engine.dispose()
    result = Bmac(db_url)("case", "list")
    assert result.exit_code == 1
    assert "not created by bmac" in result.stderr


def test_db_upgrade_and_current_report_the_revision(db_url: str) -> None:
    bmac = Bmac(db_url)
    first = bmac("db", "upgrade")
    assert first.exit_code == 0 and f"to revision {migrate.HEAD}" in first.stdout
    assert "already at revision" in bmac("db", "upgrade").stdout
    assert bmac("db", "current").stdout.startswith(f"{migrate.HEAD} (head)")


def test_0002_moves_the_follow_up_worklist_into_rows_and_back(clinic: Clinic, bmac: Bmac) -> None:
    """Down to 0001 the worklist is each case's earliest visit; up again, the same rows."""
    from alembic import command

    injected = [clinic.open(patient=f"P-{n:04d}") for n in range(3)]
    for case_id in injected:
        advance_to(clinic, case_id, "follow_up")
    first_visit = step_values("record_follow_up", injected[1])
    assert first_visit["visit"] == "1w"
    clinic.fire(injected[1], "record_follow_up", first_visit)
    waiting = clinic.open(patient="P-0009")
    advance_to(clinic, waiting, "filtering")

    def worklist() -> list[tuple[int, str, str]]:
        with clinic.engine.connect() as conn:
            rows = conn.execute(text("SELECT case_id, visit, due_at FROM due_visits ORDER BY 1, 3"))
            return [tuple(row) for row in rows]  # type: ignore[misc]

    before = worklist()
    assert [c for c, _, _ in before] == [injected[0]] * 6 + [injected[1]] * 5 + [injected[2]] * 6
    with clinic.engine.begin() as conn:
        command.downgrade(migrate._config(conn), "0001")
    with clinic.engine.connect() as conn:
        earliest = dict(conn.execute(text("SELECT id, next_due_at FROM cases")).all())
    assert earliest == {
        injected[0]: before[0][2],
        injected[1]: before[6][2],
        injected[2]: before[11][2],
        waiting: None,
    }
    migrate.upgrade(clinic.engine)
    assert worklist() == before
    verified = bmac("audit", "verify")
    assert verified.exit_code == 0, verified.stdout
