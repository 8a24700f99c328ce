"""`bmac report outcomes`: VAS and KOOS over the follow-up visits, per case and for the cohort."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .app import App
from .options import case_argument, json_option
from .output import emit_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..outcomes import CaseOutcome

PLOTS_HINT = "pip install 'bmac-workflow[plots]'"


@click.group()
def report() -> None:
    """Reports over the record.

    \b
    Example:
      bmac report outcomes --png outcomes.png
    """


@report.command("outcomes")
@case_argument(required=False)
@click.option(
    "--png",
    "png",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE",
    help="Also draw the scores per visit to a PNG (needs the [plots] extra).",
)
@json_option
@click.pass_obj
def outcomes(app: App, case_id: int | None, png: str | None, as_json: bool) -> None:
    """VAS (and KOOS) at baseline and each follow-up visit: per case, and the cohort's mean,
    95% interval and n per visit. Without CASE: every injected case.

    \b
    Example:
      bmac report outcomes
      bmac report outcomes 1 --json
      bmac report outcomes --png outcomes.png
    """
    from ..services.reads import outcomes as run

    if png:
        _check_png_path(png)
        _require_matplotlib()
    cases, result = run(app.reader(), case_id, app.now(), app.for_reading())
    if png:  # written first: a file that cannot be written fails before any report is printed
        _write_png(png, figure(cases, result["cohort"]))
    if as_json:
        emit_json(result)
    else:
        _print(cases, result["cohort"], single=case_id is not None)
    if png:
        click.echo(f"wrote {png}", err=True)


def _fmt(value: float | None, digits: int = 1) -> str:
    # `or 0.0` turns a rounded -0.0 (a baseline taken hours before the injection) into 0.
    return "-" if value is None else f"{round(value, digits) or 0.0:.{digits}f}"


def _ci(summary: dict[str, Any]) -> str:
    ci = summary["ci95"]
    return "-" if ci is None else f"{ci[0]:.1f} to {ci[1]:.1f}"


def _print(cases: list[CaseOutcome], cohort: list[dict[str, Any]], single: bool) -> None:
    from .output import table

    if not cases:
        click.echo("no injected cases yet: nothing to report", err=True)
        return
    table(
        ["case", "patient", "knee", "visit", "day", "VAS", "KOOS"],
        [
            [c.case_id, c.patient_ref, c.knee, v.visit, _fmt(v.days_after_injection, 0),
             _fmt(v.vas), _fmt(v.koos)]
            for c in cases
            for v in c.visits
        ],
        title="Scores per case (day: days after the injection)",
        right=("case", "day", "VAS", "KOOS"),
    )  # fmt: skip
    if single:
        return
    table(
        ["visit", "n", "mean VAS", "95% CI", "n KOOS", "mean KOOS", "95% CI KOOS"],
        [
            [r["visit"], r["vas"]["n"], _fmt(r["vas"]["mean"]), _ci(r["vas"]),
             r["koos"]["n"], _fmt(r["koos"]["mean"]), _ci(r["koos"])]
            for r in cohort
        ],
        title="Cohort (mean with 95% t interval)",
        right=("n", "mean VAS", "n KOOS", "mean KOOS"),
    )  # fmt: skip


def _check_png_path(png: str) -> None:
    """Refuse (exit 5) a --png path that cannot be a new PNG: another extension, no folder."""
    from pathlib import Path

    from ..errors import InvalidData

    path = Path(png)
    if path.suffix.lower() != ".png" and not path.is_char_device():
        raise InvalidData(f"--png {png}: the file name must end in .png (e.g. outcomes.png)")
    if not path.parent.is_dir():
        raise InvalidData(f"--png {png}: there is no folder {path.parent}; create it first")


def _write_png(png: str, fig: Figure) -> None:
    """Draw to memory, then write every byte with one system call per chunk, so that a full
    disk (or /dev/full) is an error, never a "wrote" over an empty file."""
    import io
    import os

    from ..errors import InvalidData

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    data = memoryview(buffer.getvalue())
    try:
        fd = os.open(png, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
    except OSError as exc:
        raise InvalidData(
            f"--png {png} could not be written ({exc.strerror}): no report was printed; "
            "choose another file or free some space"
        ) from None


def _require_matplotlib() -> None:
    from ..errors import InvalidData

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InvalidData(f"--png needs matplotlib, which is not installed: {PLOTS_HINT}") from None


def figure(cases: list[CaseOutcome], cohort: list[dict[str, Any]]) -> Figure:
    """One panel per score: a thin line per case, the cohort mean bold with its 95% interval."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window, work without a display
    from matplotlib.figure import Figure

    from ..outcomes import VISIT_ORDER, has_koos

    scores = [("vas", "VAS pain (0-10, lower is better)")]
    if has_koos(cases):
        scores.append(("koos", "KOOS (0-100, higher is better)"))
    fig = Figure(figsize=(7, 3.6 * len(scores)), layout="constrained")
    axes = fig.subplots(len(scores), 1, squeeze=False)[:, 0]
    position = {visit: i for i, visit in enumerate(VISIT_ORDER)}
    for ax, (name, label) in zip(axes, scores, strict=True):
        for case in cases:
            points = [
                (position[v.visit], getattr(v, name))
                for v in case.visits
                if v.visit in position and getattr(v, name) is not None
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", linewidth=1, alpha=0.5, label=f"case {case.case_id}")
        rows = [r for r in cohort if r[name]["n"]]
        if rows:
            at = [position[r["visit"]] for r in rows]
            means = [r[name]["mean"] for r in rows]
            low = [m - (r[name]["ci95"] or (m, m))[0] for m, r in zip(means, rows, strict=True)]
            high = [(r[name]["ci95"] or (m, m))[1] - m for m, r in zip(means, rows, strict=True)]
            ax.errorbar(
                at, means, yerr=[low, high], color="black", linewidth=2.5, capsize=4,
                marker="s", label="cohort mean (95% CI)",
            )  # fmt: skip
            for x, r in zip(at, rows, strict=True):
                ax.annotate(
                    f"n={r[name]['n']}",
                    (x, 0),
                    xycoords=("data", "axes fraction"),
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                )
        ax.set_xticks(range(len(VISIT_ORDER)), VISIT_ORDER)
        ax.set_ylabel(label)
        ax.set_ylim(0, 10.5 if name == "vas" else 105)
        ax.grid(alpha=0.3)
        if len(cases) <= 12 and ax.get_legend_handles_labels()[0]:  # nothing plotted: no legend
            ax.legend(fontsize=7)
    axes[-1].set_xlabel("visit")
    fig.suptitle("BMAC outcomes per visit")
    return fig
