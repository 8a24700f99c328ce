"""`bmac completion SHELL` prints click's script; case ids complete from the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from bmac_workflow.cli import cli
from bmac_workflow.cli.completion import complete_case_id
from tests.conftest import Bmac, Clinic


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "#compdef bmac"), ("fish", "complete --no-files")],
)
def test_each_shell_gets_its_completion_script(bmac: Bmac, shell: str, marker: str) -> None:
    result = bmac("completion", shell)
    assert result.exit_code == 0
    assert marker in result.stdout and "_BMAC_COMPLETE" in result.stdout


def test_an_unknown_shell_is_a_usage_error(bmac: Bmac) -> None:
    result = bmac("completion", "tcsh")
    assert result.exit_code == 2 and result.stderr.startswith("error:")


def context(url: str) -> click.Context:
    root = cli.make_context("bmac", ["--db", url, "case"], resilient_parsing=True)
    return click.Context(click.Command("status"), parent=root, info_name="status")


def test_case_ids_complete_from_the_database_newest_first(clinic: Clinic) -> None:
    ids = [clinic.open(f"P-{n}") for n in range(12)]
    items = complete_case_id(context(clinic.url), click.Argument(["case_id"]), "1")
    values = [item.value for item in items]
    assert values == [str(i) for i in sorted(ids, reverse=True) if str(i).startswith("1")]
    assert "P-" in items[0].help and "imaging_assessment" in items[0].help


def test_no_database_completes_nothing_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.sqlite3"
    items = complete_case_id(context(f"sqlite:///{missing}"), click.Argument(["case_id"]), "")
    assert items == [] and not missing.exists()
    down = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    assert complete_case_id(context(down), click.Argument(["case_id"]), "") == []
    assert capsys.readouterr() == ("", "")


def test_tab_after_a_case_argument_offers_the_case_ids(clinic: Clinic) -> None:
    first, second = clinic.open("P-1"), clinic.open("P-2")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BMAC_")},
        "BMAC_DATABASE_URL": clinic.url,
        "_BMAC_COMPLETE": "bash_complete",
        "COMP_WORDS": "bmac report outcomes ",
        "COMP_CWORD": "3",
    }
    result = subprocess.run(
        [sys.executable, "-c", "from bmac_workflow.cli import main; main()"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.splitlines() == [f"plain,{second}", f"plain,{first}"]
