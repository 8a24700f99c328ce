"""`bmac` on databases at every stage of their schema: new, at another revision, foreign, and
the old release's, whose follow-up worklist goes down a migration and up again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from bmac_workflow.store import migrate
from bmac_workflow.store.engine import make_engine
from tests.conftest import Bmac, Clinic

OLD_DATABASE = Path(__file__).resolve().parents[1] / "fixtures" / "db-at-72fa156.sqlite3"


def test_a_reading_command_never_creates_or_migrates_a_database(db_url: str) -> None:
    result = Bmac(db_url)("case", "list", "--json")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert "`bmac db upgrade`" in result.stderr
    if db_url.startswith("sqlite"):
        assert not Path(db_url.removeprefix("sqlite:///")).exists()
        return
    engine = make_engine(db_url)
    try:
        assert migrate.current(engine) is None  # the schema stays empty
    finally:
        engine.dispose()


def test_a_mistyped_sqlite_path_creates_no_folder_and_no_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'typo' / 'clinc.db'}"
    for args in (["case", "list"], ["audit", "verify"], ["case", "status", "1"]):
        result = Bmac(url)(*args)
        assert result.exit_code == 1 and "there is no bmac database at" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_first_operator_creates_a_new_database_readable_by_its_owner_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clinic.db"
    added = Bmac(f"sqlite:///{path}")(
        "operator", "add", "admin", "--name", "Admin", "--role", "admin",
        env={"BMAC_NEW_PIN": "482916"},
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    for made in tmp_path.iterdir():
        assert made.stat().st_mode & 0o777 == 0o600, made


def test_a_database_newer_than_this_bmac_says_so(db_url: str) -> None:
    engine = make_engine(db_url, create=True)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    finally:
        engine.dispose()
    for args in (["case", "list"], ["db", "upgrade"]):
        result = Bmac(db_url)(*args)
        assert result.exit_code == 1
        assert "newer than this bmac" in result.stderr and len(result.stderr.splitlines()) == 1
    assert "newer than this bmac" in Bmac(db_url)("db", "current").stdout


@pytest.mark.parametrize("url", ["mysql://root@localhost/bmac", "not a url", "oracle://x/y"])
def test_an_unsupported_url_says_which_are_supported(url: str) -> None:
    result = Bmac(url)("case", "list")
    assert result.exit_code == 2
    assert "SQLite" in result.stderr or "sqlite:///PATH" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_database_at_another_revision_says_to_run_db_upgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
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


def test_0002_moves_the_follow_up_worklist_into_rows_and_back(tmp_path: Path) -> None:
    """On the old release's database (at 0002, before keys): down to 0001 the worklist is each
    case's earliest visit; up to the head again, the same rows, and the record verifies."""
    copy = tmp_path / "old.sqlite3"
    shutil.copyfile(OLD_DATABASE, copy)
    engine = make_engine(f"sqlite:///{copy}")

    def worklist() -> list[tuple[int, str, str]]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT case_id, visit, due_at FROM due_visits ORDER BY 1, 3"))
            return [tuple(row) for row in rows]  # type: ignore[misc]

    before = worklist()
    assert [(c, v) for c, v, _ in before][:2] == [(2, "1w"), (2, "1m")]
    migrate.downgrade(engine, "0001")
    with engine.connect() as conn:
        earliest = dict(conn.execute(text("SELECT id, next_due_at FROM cases")).all())
    assert earliest[2] == before[0][2]
    assert [case for case, due in earliest.items() if due is not None] == [2]
    migrate.upgrade(engine)
    assert worklist() == before
    engine.dispose()
    reader = {"BMAC_OPERATOR": "surgeon", "BMAC_PIN": "3333"}  # the old release's surgeon
    verified = Bmac(f"sqlite:///{copy}")("audit", "verify", "--full", env=reader)
    assert verified.exit_code == 0, verified.stdout


def test_a_database_with_signed_acts_is_not_taken_below_0003(clinic: Clinic) -> None:
    # Dropping the registry would leave signatures nobody can check: a backup is the way back.
    with pytest.raises(RuntimeError, match="restore a backup taken before the upgrade"):
        migrate.downgrade(clinic.engine, "0002")
    assert migrate.current(clinic.engine) == migrate.HEAD
    assert clinic.count("registry") > 0


def test_0008_clusters_the_materials_by_case_and_back_with_every_row(clinic: Clinic) -> None:
    """On SQLite the materials cache is keyed by its primary key from 0008 on (WITHOUT ROWID);
    down to 0007 and up again it keeps every row, and the record verifies."""
    from tests.conftest import advance_to

    case = clinic.open()
    advance_to(clinic, case, "plasma_removal")
    query = "SELECT case_id, seq, kind, ref, action, at FROM case_materials ORDER BY 1, 2, 3, 4"

    def rows() -> list[tuple[object, ...]]:
        with clinic.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query))]

    def clustered() -> bool:
        with clinic.engine.connect() as conn:
            found = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'case_materials'")
            ).scalar_one()
        return "WITHOUT ROWID" in found

    before = rows()
    assert [(kind, action) for _, _, kind, _, action, _ in before] == [
        ("lot", "collect"),
        ("lot", "filter"),
        ("device", "centrifuge"),
    ]
    sqlite = clinic.engine.dialect.name == "sqlite"  # PostgreSQL has no such table
    assert not sqlite or clustered()
    migrate.downgrade(clinic.engine, "0007_board_index")
    assert rows() == before
    assert not sqlite or not clustered()
    migrate.upgrade(clinic.engine)
    assert rows() == before
    assert not sqlite or clustered()
    clinic.engine.dispose()
    verified = Bmac(clinic.url)("audit", "verify", "--full")
    assert verified.exit_code == 0, verified.stdout
