"""Bad input that used to end as exit 1 or as damage, and the database files (issue 15): each
gives its SPEC exit code, one `error:` line, and writes nothing."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Bmac, Clinic, advance_to
from tests.walk import step_args

HUGE = "9223372036854775808"  # one more than the largest 64-bit id


def one_error(result: Any, code: int, says: str) -> None:
    assert result.exit_code == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert says in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "who", "code", "says"),
    [
        (["case", "status", HUGE], None, 3, "no case 92233720368547758"),
        (["case", "timeline", HUGE], None, 3, "no case"),
        (["audit", "verify", HUGE], None, 3, "no case"),
        (["audit", "replay", HUGE], None, 3, "no case"),
        (["report", "outcomes", HUGE], None, 3, "no case"),
        (["case", "status", "0"], None, 3, "no case 0"),
        (step_args("assess", HUGE), "surgeon", 3, "no case"),
        (["case", "list", "--page", "99999999999999999999"], None, 2, "--page"),
        (["followup", "due", "--within", "99999999999999d"], None, 2, "--within"),
        (["case", "correct", "1", "--entry", HUGE, "--set", "a=1", "--reason", "r"], "nurse", 2,
         "--entry"),
        (["report", "outcomes", "--png", "out.txt"], None, 5, ".png"),
        (["report", "outcomes", "--png", "missing/out.png"], None, 5, "no folder"),
        (["report", "outcomes", "--png", "/dev/full"], None, 5, "could not be written"),
    ],
)  # fmt: skip
def test_bad_input_gets_its_exit_code_and_writes_nothing(
    bmac: Bmac,
    clinic: Clinic,
    args: list[str],
    who: str | None,
    code: int,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if "/dev/full" in args and not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    clinic.open()
    before = clinic.counts()
    result = bmac(*args, who=who)
    one_error(result, code, says)
    assert result.stdout == ""  # no report printed before the failure
    assert clinic.counts() == before
    assert list(here.iterdir()) == []


def test_a_number_with_an_underscore_is_not_read_as_another(bmac: Bmac, clinic: Clinic) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "marrow_collection")
    before = clinic.counts()
    args = step_args("collect", case_id)
    args[args.index("--aspirate-ml") + 1] = "1_0"
    one_error(bmac(*args, who="nurse"), 2, "1_0")
    assert clinic.counts() == before


def test_the_same_field_set_twice_is_refused(bmac: Bmac, clinic: Clinic) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "centrifugation")
    before = clinic.counts()
    result = bmac(
        "case", "correct", str(case_id), "--entry", "4", "--set", "filtered_ml=54",
        "--set", "filtered-ml=53", "--reason", "misread", who="nurse",
    )  # fmt: skip
    one_error(result, 2, "given twice")
    assert clinic.counts() == before


def test_an_unknown_verifier_is_named_as_the_verifier(bmac: Bmac, clinic: Clinic) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    before = clinic.counts()
    args = step_args("inject", case_id)
    args[args.index("--verifier") + 1] = "nobody.here"
    result = bmac(*args, who="surgeon")
    assert result.exit_code == 6
    assert "--verifier" in result.stderr and "--operator" not in result.stderr
    assert clinic.counts()["entries"] == before["entries"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("window_minutes = 1e300", "at most 1440"),
        ("BOM", None),
    ],
)
def test_a_protocol_file_is_checked_for_values_no_clinic_could_mean(
    bmac: Bmac, clinic: Clinic, tmp_path: Path, change: str, says: str | None
) -> None:
    shown = bmac("protocol", "show", "--file")
    assert shown.exit_code == 0, shown.stderr
    text = shown.stdout.replace('version = "', 'version = "t-', 1)
    path = tmp_path / "p.toml"
    if change == "BOM":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    else:
        path.write_text(text.replace("window_minutes = 120", change))
        assert change in path.read_text()
    before = clinic.counts()
    result = bmac("protocol", "activate", str(path), who="admin")
    if says is None:
        assert result.exit_code == 0, result.stderr  # a byte order mark reads as none
        return
    one_error(result, 5, says)
    assert clinic.counts() == before


def test_demo_keep_twice_says_the_folder_holds_a_demo(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    (folder).mkdir()
    (folder / "demo.sqlite3").write_bytes(b"")
    result = Bmac("sqlite:///unused.db")("demo", "--keep", str(folder))
    one_error(result, 5, "holds a demo database already")
    assert (folder / "demo.sqlite3").read_bytes() == b""


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_backup_is_0600_and_reading_it_changes_nothing_but_its_access_log(
    bmac: Bmac, clinic: Clinic, tmp_path: Path
) -> None:
    # Every read is logged in the database it reads (issue 16), a backup too; nothing else of
    # it changes. On read-only media it is read without a log entry, byte for byte as it was.
    if not clinic.url.startswith("sqlite"):
        pytest.skip("bmac db backup copies SQLite databases")
    advance_to(clinic, clinic.open(), "filtering")
    tmp_path = tmp_path / "backups"
    tmp_path.mkdir()
    copy = tmp_path / "backup.sqlite3"
    made = bmac("db", "backup", str(copy), who="admin")
    assert made.exit_code == 0, made.stderr
    assert copy.stat().st_mode & 0o777 == 0o600
    assert Path(clinic.url.removeprefix("sqlite:///")).stat().st_mode & 0o777 == 0o600
    on_copy = Bmac(f"sqlite:///{copy}")

    def record_of() -> tuple[object, ...]:
        with closing(sqlite3.connect(copy)) as conn:
            return tuple(
                conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in ("entries", "cases", "registry", "operators", "checkpoints")
            )

    def reads() -> int:
        with closing(sqlite3.connect(copy)) as conn:
            return int(conn.execute("SELECT count(*) FROM access_log").fetchone()[0])

    before, logged = record_of(), reads()
    for args in (
        ["audit", "verify", "--full"],
        ["case", "list"],
        ["audit", "export", "--format", "json"],
    ):
        assert on_copy(*args, who="auditor").exit_code == 0
    assert record_of() == before
    assert reads() == logged + 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.sqlite3"]  # no -wal, -shm
    if os.geteuid() != 0:  # root writes anywhere: read-only media cannot be played as root
        tmp_path.chmod(0o555)
        copy.chmod(0o444)
        try:
            frozen = sha(copy)
            result = on_copy("audit", "verify", who="auditor")
            assert result.exit_code == 0, result.stderr
            assert "in no access log" in result.stderr
            assert sha(copy) == frozen
        finally:
            tmp_path.chmod(0o755)


def test_a_backup_never_removes_nor_overwrites_what_it_did_not_make(
    bmac: Bmac, clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not clinic.url.startswith("sqlite"):
        pytest.skip("bmac db backup copies SQLite databases")
    tmp_path = tmp_path / "backups"
    tmp_path.mkdir()
    target = tmp_path / "b.sqlite3"
    foreign = tmp_path / "b.sqlite3.partial"
    foreign.write_text("someone else's")
    one_error(bmac("db", "backup", str(target), who="admin"), 5, "exists")
    assert foreign.read_text() == "someone else's" and not target.exists()
    foreign.unlink()

    from bmac_workflow.store import sqlite_copy

    real = sqlite_copy.copy_to

    def racing(engine: Any, path: Path) -> None:
        real(engine, path)
        target.write_text("appeared meanwhile")

    monkeypatch.setattr(sqlite_copy, "copy_to", racing)
    one_error(bmac("db", "backup", str(target), who="admin"), 5, "appeared while")
    assert target.read_text() == "appeared meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.sqlite3"]


def test_a_full_disk_says_so_and_that_nothing_was_written(
    bmac: Bmac, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from bmac_workflow.store.unit_of_work import UnitOfWork

    def full(self: UnitOfWork) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(UnitOfWork, "commit", full)
    before = clinic.counts()
    result = bmac("case", "open", "--patient", "P-77", "--knee", "left", who="nurse")
    one_error(result, 1, "disk that holds the database is full: nothing was written")
    assert clinic.counts() == before
