"""`bmac trace lot` against a brute-force replay of the whole log, on 1,000 generated cases
(the benchmark generator: every entry signed, the lots spread over `generate.LOTS`)."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmac_workflow.services.trace import trace
from bmac_workflow.store.database import Database

LOT_FIELDS = ("kit_lot", "filter_lot")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Path]]:
    from benchmarks.generate import build

    path = tmp_path_factory.mktemp("trace") / "clinic.sqlite3"
    build(path, cases=1000, entries=12_000, workers=1)
    db = Database.open(f"sqlite:///{path}")
    yield db, path
    db.dispose()


@functools.cache
def log_of(path: Path) -> list[dict[str, Any]]:
    """Every entry of the database, parsed, in case and seq order."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT body FROM entries ORDER BY case_id, seq").fetchall()
    return [json.loads(body) for (body,) in rows]


def brute_force(path: Path, lot: str) -> list[tuple[int, int, str]]:
    """Every (case, entry, step) whose data, as corrected, names `lot`: the log read whole."""
    entries = log_of(path)
    effective: dict[tuple[int, int], dict[str, object]] = {}
    for entry in entries:
        key = (entry["case_id"], entry["seq"])
        if entry["action"] == "correct":
            target = (entry["case_id"], entry["corrects"])
            effective[target] = {**effective[target], **entry["data"]["changes"]}
        effective[key] = dict(entry["data"])
    return sorted(
        (entry["case_id"], entry["seq"], entry["action"])
        for entry in entries
        if entry["action"] != "correct"
        and lot in (effective[(entry["case_id"], entry["seq"])].get(f) for f in LOT_FIELDS)
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(number=st.integers(min_value=0, max_value=999), kind=st.sampled_from("KF"))
def test_trace_lot_is_a_brute_force_replay_of_the_log(
    generated: tuple[Database, Path], number: int, kind: str
) -> None:
    db, path = generated
    lot = f"{kind}-{number:04d}"
    found = sorted((r["case_id"], r["entry"], r["step"]) for r in trace("lot", lot, db))
    assert found == brute_force(path, lot)


def test_the_generated_cases_spread_over_many_lots(generated: tuple[Database, Path]) -> None:
    db, path = generated
    with sqlite3.connect(path) as raw:
        lots = raw.execute("SELECT count(DISTINCT ref) FROM case_materials WHERE kind = 'lot'")
        assert lots.fetchone()[0] > 1000
    used = [e["data"]["kit_lot"] for e in log_of(path) if "kit_lot" in e["data"]]
    busiest = max(set(used), key=used.count)
    assert len(trace("lot", busiest, db)) == used.count(busiest) > 1
