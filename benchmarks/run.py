"""Run every benchmark of bmac-workflow and print each figure beside its floor, as a ratio.

    python benchmarks/run.py            # the full run (about five minutes on two cores)
    python benchmarks/run.py --quick    # smaller sizes, a minute or so
    python benchmarks/run.py --tiny     # seconds: what the smoke test runs
    python benchmarks/run.py --only commit,verify --profile /tmp/prof

Every figure line starts with `FIGURE name`; a line `TARGETS ...` closes the run. PostgreSQL
is measured when --pg URL or BMAC_TEST_POSTGRES_URL is given, else its line says skipped.
Nothing here asserts: the numbers are for people (README "Performance") to read.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Figure, fresh, skipped

SECTIONS = ("commit", "verify", "startup", "scale", "web", "trace", "pg")
FIGURES = (
    "step_commit_sqlite",
    "audit_verify_full",
    "audit_verify",
    "audit_verify_1proc",
    "start_help",
    "start_case_status",
    "generate",
    "case_list_state",
    "case_timeline",
    "followup_due",
    "db_size_per_1k",
    "web_board",
    "web_api_cases",
    "web_case_page",
    "access_log_overhead",
    "trace_lot",
    "pg_8_workers",
)


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark runs."""

    commit_steps: int
    verify_entries: int
    start_runs: int
    scale_cases: int
    scale_entries: int
    query_runs: int
    pg_workers: int
    pg_cases_each: int
    web_runs: int


FULL = Sizes(1000, 300_000, 9, 100_000, 1_500_000, 25, 8, 25, 100)
QUICK = Sizes(300, 60_000, 7, 10_000, 150_000, 15, 8, 8, 40)
TINY = Sizes(20, 600, 1, 40, 600, 2, 8, 1, 4)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmarks of bmac-workflow, each against a floor measured in the same run."
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    size.add_argument("--tiny", action="store_true", help="seconds; what the smoke test runs")
    parser.add_argument("--only", metavar="LIST", help=f"some of: {','.join(SECTIONS)}")
    parser.add_argument(
        "--pg",
        metavar="URL",
        default=os.environ.get("BMAC_TEST_POSTGRES_URL"),
        help="PostgreSQL server URL (default: env BMAC_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--commit-steps", type=int)
    parser.add_argument("--verify-entries", type=int)
    parser.add_argument("--scale-cases", type=int)
    parser.add_argument("--scale-entries", type=int)
    parser.add_argument("--runs", type=int, help="process-start runs of each command")
    parser.add_argument("--workdir", type=Path, help="keep the databases here (default: temp)")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="write pyinstrument profiles of the step commit and verify here",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the README table")
    return parser.parse_args(argv)


def sizes_of(args: argparse.Namespace) -> Sizes:
    base = TINY if args.tiny else QUICK if args.quick else FULL
    return Sizes(
        args.commit_steps or base.commit_steps,
        args.verify_entries or base.verify_entries,
        args.runs or base.start_runs,
        args.scale_cases or base.scale_cases,
        args.scale_entries or base.scale_entries,
        base.query_runs,
        base.pg_workers,
        base.pg_cases_each,
        base.web_runs,
    )


@contextmanager
def profiled(directory: Path | None, name: str) -> Iterator[None]:
    """Profile the block with pyinstrument into DIR/name.txt, when asked."""
    if directory is None:
        yield
        return
    from pyinstrument import Profiler

    directory.mkdir(parents=True, exist_ok=True)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        (directory / f"{name}.txt").write_text(profiler.output_text(unicode=True, color=False))


def machine() -> str:
    """The machine in one line: CPU model, cores, Python, SQLite."""
    import sqlite3

    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections; print every figure line, then which targets hold."""
    args = parse(argv)
    sizes = sizes_of(args)
    chosen = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = chosen - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown section(s): {', '.join(sorted(unknown))}")
    print(f"machine: {machine()}")
    print(f"sizes: {sizes}")
    figures: list[Figure] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bmac-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)

        def report(figure: Figure, notes: Sequence[str] = ()) -> None:
            figures.append(figure)
            print(figure.line(), flush=True)
            for note in notes:
                print(f"  note: {note}", flush=True)

        clinic: list[Any] = []  # the scale section's clinic, which the web section reads too
        sections: dict[str, Callable[[], Any]] = {
            "commit": lambda: run_commit(workdir, sizes, args.profile, report),
            "verify": lambda: run_verify(workdir, sizes, args.profile, report),
            "startup": lambda: run_startup(workdir, sizes, report),
            "scale": lambda: clinic.append(run_scale(workdir, sizes, report)),
            "web": lambda: run_web(workdir, sizes, clinic, report),
            "trace": lambda: run_trace(workdir, sizes, report),
            "pg": lambda: run_pg(args.pg, sizes, report),
        }
        for name in SECTIONS:
            if name in chosen:
                sections[name]()
    missed = [f for f in figures if f.holds is False]
    print(f"elapsed: {time.perf_counter() - started:.0f} s")
    if args.markdown:
        print("\n| figure | measured | floor | ratio | target | holds |\n|---|---|---|---|---|---|")
        for figure in figures:
            print(figure.row())
    print(
        "TARGETS " + ("all hold" if not missed else "missed: " + ", ".join(f.name for f in missed))
    )
    return 0


def run_commit(workdir: Path, sizes: Sizes, profile: Path | None, report: Any) -> None:
    from benchmarks import commit

    figure, notes = commit.measure(workdir, sizes.commit_steps)
    report(figure, notes)
    if profile is not None:
        with profiled(profile, "step_commit"):
            commit.ours_only(workdir, sizes.commit_steps)


def run_verify(workdir: Path, sizes: Sizes, profile: Path | None, report: Any) -> None:
    from benchmarks import generate, verify

    path = workdir / "verify.sqlite3"
    fresh(path)
    built = generate.build(path, max(1, sizes.verify_entries // 15), sizes.verify_entries)
    figure, notes = verify.measure_full(path, built.entries)
    report(figure, notes)
    if profile is not None:
        with profiled(profile, "audit_verify_full"):
            verify.ours(path, workers=1, full=True)
    # An auditor's checkpoint, then about 0.5% more entries logged after it.
    after = verify.checkpoint_then_log(path, max(1, sizes.verify_entries // 1400))
    figures, notes = verify.measure_after_checkpoint(path, built.entries + after, after)
    for figure in figures:
        report(figure, notes if figure is figures[-1] else [])
    if profile is not None:
        with profiled(profile, "audit_verify"):
            verify.ours(path, workers=1)


def run_startup(workdir: Path, sizes: Sizes, report: Any) -> None:
    from benchmarks import generate, startup

    path = workdir / "status.sqlite3"
    if not path.exists():
        generate.build(path, 20, 300)
    for figure in startup.measure(f"sqlite:///{path}", 1, sizes.start_runs):
        report(figure)


def run_scale(workdir: Path, sizes: Sizes, report: Any) -> Any:
    from benchmarks import scale

    fresh(workdir / "scale.sqlite3")
    figure, built = scale.generate(
        workdir / "scale.sqlite3", sizes.scale_cases, sizes.scale_entries
    )
    report(figure)
    for figure in scale.measure(built, sizes.query_runs):
        report(figure)
    return built


def run_web(workdir: Path, sizes: Sizes, clinic: list[Any], report: Any) -> None:
    """The board, the API, a case page, the access log's overhead: on the scale section's
    clinic when it ran (its figures are taken first), else on a clinic of the same size."""
    from benchmarks import generate, web
    from bmac_workflow.timeutil import utcnow

    if clinic:
        built = clinic[0]
    else:
        fresh(workdir / "web.sqlite3")
        built = generate.build(workdir / "web.sqlite3", sizes.scale_cases, sizes.scale_entries)
    for figure in web.measure(built, sizes.web_runs, utcnow()):
        report(figure)


def run_trace(workdir: Path, sizes: Sizes, report: Any) -> None:
    from benchmarks import generate, trace

    # The scale section's clinic when it ran (100k cases in a full run), else one of that size.
    path = workdir / "scale.sqlite3"
    if not path.exists():
        generate.build(path, sizes.scale_cases, sizes.scale_entries)
    report(trace.measure(path, 4 * sizes.query_runs))


def run_pg(url: str | None, sizes: Sizes, report: Any) -> None:
    if not url:
        print(
            skipped(
                "pg_8_workers", "no PostgreSQL URL (give --pg URL or set BMAC_TEST_POSTGRES_URL)"
            ),
            flush=True,
        )
        return
    from benchmarks import pg

    figure, notes = pg.measure(url, sizes.pg_workers, sizes.pg_cases_each)
    report(figure, notes)


if __name__ == "__main__":
    sys.exit(main())
