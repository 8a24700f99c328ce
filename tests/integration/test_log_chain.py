"""The chains of the operator registry and of the quality log (log_chain.py), as their audits
report them: an entry missing, repeated, altered, unreadable or linking to the wrong hash. Both
logs are the ones the services write (SQLite and PostgreSQL), handed to the audits with an entry
removed, repeated or rewritten."""

from __future__ import annotations

from typing import Any

import pytest

from bmac_workflow.checks import Problem
from bmac_workflow.quality_checks import check_quality
from bmac_workflow.record import digest
from bmac_workflow.registry import Registry
from bmac_workflow.registry_checks import check_registry
from bmac_workflow.services import quality
from bmac_workflow.timeutil import utcnow
from tests.conftest import Clinic

Rows = list[tuple[Any, ...]]


@pytest.fixture
def logs(clinic: Clinic) -> tuple[Rows, Rows]:
    """The stored rows of the registry (one act per operator of the clinic, at least) and of a
    quality log of three acts: a lot held, a device added, the lot released."""
    qa = clinic.credentials("qa")
    quality.hold("K-1", "recall", qa, utcnow, clinic.db)
    quality.add_device("SC-1", "scale", "2099-01-01", qa, utcnow, clinic.db)
    quality.release("K-1", "cleared", qa, utcnow, clinic.db)
    with clinic.uow(write=False) as uow:
        return list(uow.repo.registry_rows()), list(uow.repo.quality_rows())


def whats(problems: list[Problem]) -> list[tuple[int | None, str]]:
    return [(p.seq, p.what) for p in problems]


def registry_whats(rows: Rows) -> list[tuple[int | None, str]]:
    return whats(check_registry(rows)[1])


def quality_whats(registry: Rows, rows: Rows) -> list[tuple[int | None, str]]:
    folded: Registry = check_registry(registry)[0]
    return whats(check_quality(rows, folded)[1])


def test_the_logs_the_services_write_have_no_problems(logs: tuple[Rows, Rows]) -> None:
    registry_rows, quality_rows = logs
    registry, problems = check_registry(registry_rows)
    assert problems == []
    assert registry.length == len(registry_rows) > 3
    folded, found = check_quality(quality_rows, registry)
    assert found == []
    assert (folded.length, folded.hold("K-1"), folded.device("SC-1") is not None) == (3, None, True)


def test_a_registry_entry_removed_is_missing_and_the_next_does_not_link(
    logs: tuple[Rows, Rows],
) -> None:
    rows, _ = logs
    assert registry_whats([rows[0], *rows[2:]]) == [
        (2, "operator registry: an entry is missing or repeated"),
        (3, "operator registry: chain broken: previous hash does not link"),
    ]


def test_a_registry_entry_stored_twice_is_repeated(logs: tuple[Rows, Rows]) -> None:
    rows, _ = logs
    found = registry_whats([*rows[:3], rows[2], *rows[3:]])
    assert found[:2] == [
        (4, "operator registry: an entry is missing or repeated"),
        (3, "operator registry: chain broken: previous hash does not link"),
    ]


def test_a_registry_entry_edited_under_its_old_hash_is_altered(logs: tuple[Rows, Rows]) -> None:
    rows, _ = logs
    seq, body, stored = rows[2]
    edited = body.replace('"role":"nurse"', '"role":"admin"')
    assert edited != body
    assert registry_whats([*rows[:2], (seq, edited, stored), *rows[3:]]) == [
        (3, "operator registry: hash does not match the entry's content (altered)"),
        (3, "operator registry: add of nurse: the signature of admin does not verify"),
    ]


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", "{}", "null"])
def test_an_unreadable_registry_entry_is_named_and_the_next_still_links_to_it(
    logs: tuple[Rows, Rows], body: str
) -> None:
    rows, _ = logs
    seq, _, stored = rows[-2]
    assert registry_whats([*rows[:-2], (seq, body, stored), rows[-1]]) == [
        (seq, "operator registry: hash does not match the entry's content (altered)"),
        (seq, "operator registry: entry is not readable"),
    ]


def test_a_quality_act_removed_is_missing_and_the_next_does_not_link(
    logs: tuple[Rows, Rows],
) -> None:
    registry, rows = logs
    assert quality_whats(registry, [rows[0], rows[2]]) == [
        (2, "quality log: an act is missing or repeated"),
        (3, "quality log: chain broken: previous hash does not link"),
    ]


def test_an_unreadable_quality_act_is_named_and_the_next_still_links_to_it(
    logs: tuple[Rows, Rows],
) -> None:
    registry, rows = logs
    seq, kind, subject, _, stored = rows[1]
    assert quality_whats(registry, [rows[0], (seq, kind, subject, "{}", stored), rows[2]]) == [
        (2, "quality log: hash does not match the act's content (altered)"),
        (2, "quality log: act is not readable"),
    ]


def test_a_quality_act_edited_and_hashed_again_breaks_the_next_link(
    logs: tuple[Rows, Rows],
) -> None:
    registry, rows = logs
    seq, kind, subject, body, _ = rows[0]
    edited = body.replace('"reason":"recall"', '"reason":"nothing"')
    assert edited != body
    assert quality_whats(registry, [(seq, kind, subject, edited, digest(edited)), *rows[1:]]) == [
        (1, "quality log: hold of K-1: the signature of qa does not verify"),
        (2, "quality log: chain broken: previous hash does not link"),
    ]
