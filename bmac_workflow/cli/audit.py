"""`bmac audit ...`: prove the record was not altered, checkpoint it, replay and export it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from ..errors import RecordAltered
from .app import App
from .options import case_argument, json_option
from .output import emit_json, when

if TYPE_CHECKING:
    from ..checks import Problem


@click.group()
def audit() -> None:
    """Verify, checkpoint, replay and export the record.

    \b
    Example:
      bmac audit verify
    """


def problem_line(problem: Problem) -> str:
    """One problem as `case, seq, what` (a problem of the whole record names no case)."""
    from ..checks import RECORD

    case = "record" if problem.case_id == RECORD else f"case {problem.case_id}"
    seq = "-" if problem.seq is None else str(problem.seq)
    return f"{case}, seq {seq}, {problem.what}"


@audit.command("verify")
@case_argument(required=False)
@click.option(
    "--against",
    metavar="DIGEST",
    help="A digest printed by `bmac audit checkpoint`: also prove nothing it covers was removed.",
)
@click.option(
    "--full",
    is_flag=True,
    help="Check every signature, not only those since the last signed checkpoint.",
)
@click.option(
    "--root",
    metavar="FINGERPRINT",
    help="The root key's fingerprint written down when the first admin was added: also prove "
    "the operator registry is the clinic's own.",
)
@click.pass_obj
def verify(
    app: App, case_id: int | None, against: str | None, full: bool, root: str | None
) -> None:
    """Re-run the workflow from the log and check every hash, link, signature, role and case;
    exit 8 listing every problem if anything differs.

    \b
    Example:
      bmac audit verify
      bmac audit verify 1
      bmac audit verify --full
      bmac audit verify --root 1a2b:3c4d:5e6f:7081:92a3:b4c5:d6e7:f809
      bmac audit verify --against "$(bmac audit checkpoint)"
    """
    from ..services.reads import verify as run
    from .progress import progress_bar

    def bar(total: int) -> Any:
        return progress_bar(total, "verifying")

    done = run(app.reader(), app.now(), app.for_reading(), case_id, against, bar, full, root)
    problems, total = done.problems, done.entries
    for problem in problems:
        click.echo(problem_line(problem))
    if problems:
        raise RecordAltered(
            f"the record was altered: {len(problems)} problem(s), the first: "
            f"{problem_line(problems[0])}"
        )
    scope = f"case {case_id}" if case_id is not None else "record"
    proof = "; it holds everything the checkpoint covered" if against else ""
    rerun = "every" if full else "since the last checkpoint, every"
    before = f" ({done.before_keys} signed before keys: their hash is their proof)"
    click.echo(
        f"{scope} verified: {total} entries{before if done.before_keys else ''}; every hash, "
        f"link and case matches, and {rerun} step, role and signature holds{proof}"
    )
    if done.root_fingerprint:
        click.echo(f"root key: {done.root_fingerprint} (compare it with the one written down)")


@audit.command("checkpoint")
@click.pass_obj
def checkpoint(app: App) -> None:
    """Verify the record, then sign a checkpoint of it and print its digest (auditor; PIN).

    The checkpoint covers every case's head and entry count, the operator registry, the
    protocols and the last case id; the auditor signs it as "reviewed", and later verifies
    check only the signatures after it (`--full`: all). Write the digest down or send it away
    from the database: `bmac audit verify --against DIGEST` later names each difference. The
    digest alone is printed on stdout; where it was taken and the same digest in groups of
    eight go to stderr.

    \b
    Example:
      bmac --operator auditor.choi audit checkpoint
    """
    from ..services.checkpoints import grouped, take_checkpoint
    from .progress import progress_bar

    with progress_bar(0, "reviewing") as advance:
        mark = take_checkpoint(app.credentials(), app.now, app.database(), advance)
    click.echo(mark.digest)
    click.echo(
        f"checkpoint of {mark.cases} case(s), {mark.entries} entries, taken {when(mark.taken_at)} "
        f"by {mark.operator}\nfor paper: {grouped(mark.digest)}",
        err=True,
    )


@audit.command("replay")
@case_argument()
@click.option("--at", metavar="TIME", help="Stop at this time (ISO 8601): the state then.")
@json_option
@click.pass_obj
def replay(app: App, case_id: int, at: str | None, as_json: bool) -> None:
    """Rebuild a case from its log, step by step, printing each state it went through.

    Without --at the last state is the one `bmac case status` shows.

    \b
    Example:
      bmac audit replay 1
      bmac audit replay 1 --at 2026-11-25T10:00
    """
    from ..services.reads import replay as run

    steps, final = run(app.reader(), case_id, at, app.now(), app.for_reading())
    if as_json:
        emit_json({"case_id": case_id, "at": at, "steps": steps, "final": final})
        return
    for step in steps:
        move = (
            step["to_state"]
            if step["from_state"] == step["to_state"]
            else f"{step['from_state'] or ''} -> {step['to_state']}".strip()
        )
        click.echo(
            f"{step['seq']:>3}  {when(step['at'])}  {step['action']:<16} {move}  "
            f"by {step['operator']}"
        )
        if step["corrects"]:
            click.echo(f"     corrects entry {step['corrects']}: {step['reason']}")
        for key, value in step["changed"].items():
            click.echo(f"     {key}: {_show(value)}")
    cut = f" at {at}" if at else ""
    click.echo(f"state{cut}: {final['state']} after {len(steps)} entries")


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "-"
    return "-" if value is None else str(value)


@audit.command("export")
@case_argument(required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "fhir"]),
    required=True,
    help="json or csv: every entry with its hash; fhir: a FHIR R5 Bundle.",
)
@click.option("--pseudonymize", is_flag=True, help="Replace patient references with a keyed hash.")
@click.option(
    "--key",
    envvar="BMAC_PSEUDONYM_KEY",
    metavar="TEXT",
    help="Key of the pseudonyms (env BMAC_PSEUDONYM_KEY); never written to the export.",
)
@click.pass_obj
def export(app: App, case_id: int | None, fmt: str, pseudonymize: bool, key: str | None) -> None:
    """Write every entry with its canonical body and hash to stdout, verifiable offline.

    Check an export with `python docs/verify_export.py FILE` (standard library only).

    \b
    Example:
      bmac audit export --format json > record.json
      BMAC_PSEUDONYM_KEY=keep-this-key-safe bmac audit export 1 --format csv --pseudonymize
      bmac audit export 1 --format fhir > case-1.fhir.json
    """
    from ..services.export import check_key
    from ..services.reads import export as run
    from .progress import progress_bar

    def bar(total: int) -> Any:
        return progress_bar(total, "exporting")

    secret = check_key(key) if pseudonymize else None
    out = sys.stdout
    count = run(app.reader(), out, fmt, case_id, secret, app.now(), app.for_reading(), bar)
    out.flush()
    if fmt == "fhir":
        if sys.stderr.isatty():
            click.echo(f"{count} case(s) exported as a FHIR R5 Bundle", err=True)
        return
    if sys.stderr.isatty():
        click.echo(f"{count} entries exported", err=True)


@audit.command("access")
@click.option("--patient", metavar="REF", help="Only reads that showed this patient.")
@click.option("--case", "case_id", type=int, metavar="N", help="Only reads that showed this case.")
@click.option("--operator", "reader_id", metavar="ID", help="Only this operator's reads.")
@click.option("--since", metavar="TIME", help="Only reads from this time on (ISO 8601).")
@json_option
@click.pass_obj
def access(
    app: App,
    patient: str | None,
    case_id: int | None,
    reader_id: str | None,
    since: str | None,
    as_json: bool,
) -> None:
    """Who read which cases: every read of the record, oldest first (the access log).

    \b
    Example:
      bmac audit access --patient P-0042
      bmac audit access --operator nurse.kim --since 2026-11-30 --json
    """
    from ..access import AccessFilter
    from ..services.access import access_entries

    found = AccessFilter(patient, case_id, reader_id, since)
    rows = access_entries(app.reader(), found, app.now(), app.database())
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        cases = ", ".join(map(str, row["cases"][:10])) + (" ..." if len(row["cases"]) > 10 else "")
        click.echo(
            f"{row['seq']:>5}  {when(row['at'])}  {row['operator']:<16} {row['channel']:<4} "
            f"{row['what']:<16} {('cases ' + cases) if cases else row.get('result') or '-'}"
        )
    click.echo(f"{len(rows)} read(s)", err=True)
