"""`bmac step ...`: the six processing steps, from the harvest to the injection."""

from __future__ import annotations

import click

from .app import App
from .render import at_option, case_argument
from .writing import fire

CASE = case_argument()


@click.group()
def step() -> None:
    """Log the processing steps of a case, in order.

    \b
    Example:
      bmac --operator nurse.kim step filtering 1 --filter-lot F-778 --filtered-ml 55
    """


@step.command("collection")
@CASE
@click.option(
    "--side", required=True, type=click.Choice(["left", "right"]), help="Iliac crest side."
)
@click.option("--aspirate-ml", required=True, type=float, help="Aspirate volume, mL.")
@click.option("--anticoagulant", required=True, metavar="TEXT", help="e.g. heparin, ACD-A.")
@click.option("--kit-lot", required=True, metavar="TEXT", help="Harvest kit lot.")
@click.option("--specimen-id", required=True, metavar="ID", help="Label on the specimen.")
@click.option("--anaesthesia", type=click.Choice(["local"]), default="local", show_default=True)
@at_option
@click.pass_obj
def collection(
    app: App,
    case_id: int,
    side: str,
    aspirate_ml: float,
    anticoagulant: str,
    kit_lot: str,
    specimen_id: str,
    anaesthesia: str,
    at: str | None,
) -> None:
    """Log the bone marrow harvest from the iliac crest.

    \b
    Example:
      bmac step collection 1 --side left --aspirate-ml 60 --anticoagulant heparin \\
          --kit-lot K-2291 --specimen-id SP-0001
    """
    fire(
        app,
        case_id,
        "collect",
        {
            "side": side,
            "aspirate_ml": aspirate_ml,
            "anticoagulant": anticoagulant,
            "kit_lot": kit_lot,
            "specimen_id": specimen_id,
            "anaesthesia": anaesthesia,
        },
        at,
    )


@step.command("filtering")
@CASE
@click.option("--filter-lot", required=True, metavar="TEXT", help="Filter kit lot.")
@click.option("--filtered-ml", required=True, type=float, help="Filtered volume, mL (<= aspirate).")
@at_option
@click.pass_obj
def filtering(app: App, case_id: int, filter_lot: str, filtered_ml: float, at: str | None) -> None:
    """Log the filtering of the aspirate.

    \b
    Example:
      bmac step filtering 1 --filter-lot F-778 --filtered-ml 55
    """
    fire(app, case_id, "filter", {"filter_lot": filter_lot, "filtered_ml": filtered_ml}, at)


@step.command("centrifugation")
@CASE
@click.option("--device", required=True, metavar="TEXT", help="Centrifuge device ID.")
@click.option("--g-force", type=int, help="Relative centrifugal force, x g.")
@click.option("--rpm", type=int, help="Speed, rpm (when the force is not known).")
@click.option("--minutes", required=True, type=float, help="Duration of each spin, min.")
@click.option("--spins", type=int, default=1, show_default=True, help="Number of spins.")
@at_option
@click.pass_obj
def centrifugation(
    app: App,
    case_id: int,
    device: str,
    g_force: int | None,
    rpm: int | None,
    minutes: float,
    spins: int,
    at: str | None,
) -> None:
    """Log the centrifugation (give --g-force or --rpm).

    \b
    Example:
      bmac step centrifugation 1 --device CF-02 --g-force 1500 --minutes 10 --spins 2
    """
    fire(
        app,
        case_id,
        "centrifuge",
        {
            "device_id": device,
            "g_force": g_force,
            "rpm": rpm,
            "duration_min": minutes,
            "spins": spins,
        },
        at,
    )


@step.command("plasma-removal")
@CASE
@click.option("--plasma-removed-ml", required=True, type=float, help="Plasma removed, mL.")
@click.option(
    "--rbc-removed/--no-rbc-removed",
    default=True,
    show_default=True,
    help="Whether the red-cell layer was removed.",
)
@at_option
@click.pass_obj
def plasma_removal(
    app: App, case_id: int, plasma_removed_ml: float, rbc_removed: bool, at: str | None
) -> None:
    """Log the removal of the plasma and red-cell layers.

    \b
    Example:
      bmac step plasma-removal 1 --plasma-removed-ml 40
    """
    fire(
        app,
        case_id,
        "remove_plasma",
        {"plasma_removed_ml": plasma_removed_ml, "rbc_removed": rbc_removed},
        at,
    )


@step.command("concentration")
@CASE
@click.option("--concentrate-ml", required=True, type=float, help="Concentrate drawn, mL.")
@click.option("--cell-count", type=int, help="Nucleated cells per uL (optional).")
@at_option
@click.pass_obj
def concentration(
    app: App, case_id: int, concentrate_ml: float, cell_count: int | None, at: str | None
) -> None:
    """Log the concentrate drawn; the concentration factor is computed.

    \b
    Example:
      bmac step concentration 1 --concentrate-ml 6 --cell-count 42000
    """
    fire(
        app,
        case_id,
        "concentrate",
        {"concentrate_ml": concentrate_ml, "cell_count_per_ul": cell_count},
        at,
    )


@step.command("injection")
@CASE
@click.option(
    "--knee", required=True, type=click.Choice(["left", "right"]), help="Must be the case's knee."
)
@click.option(
    "--injected-ml", required=True, type=float, help="Volume injected, mL (<= concentrate)."
)
@click.option(
    "--guidance", required=True, type=click.Choice(["ultrasound", "fluoroscopy", "landmark"])
)
@click.option(
    "--specimen-id", required=True, metavar="ID", help="Scanned from the syringe: must match."
)
@click.option(
    "--verifier",
    required=True,
    metavar="ID",
    help="Second operator who verifies (PIN prompted or BMAC_VERIFIER_PIN).",
)
@click.option(
    "--override-reason", metavar="TEXT", help="Surgeon's reason to inject past the window."
)
@at_option
@click.pass_obj
def injection(
    app: App,
    case_id: int,
    knee: str,
    injected_ml: float,
    guidance: str,
    specimen_id: str,
    verifier: str,
    override_reason: str | None,
    at: str | None,
) -> None:
    """Log the injection into the knee (surgeon, verified by a second operator).

    \b
    Example:
      BMAC_VERIFIER_PIN=1357 bmac --operator dr.park step injection 1 --knee left \\
          --injected-ml 5 --guidance ultrasound --specimen-id SP-0001 --verifier nurse.kim
    """
    fire(
        app,
        case_id,
        "inject",
        {
            "knee": knee,
            "injected_ml": injected_ml,
            "guidance": guidance,
            "specimen_id": specimen_id,
            "verifier_id": verifier,
            "override_reason": override_reason,
        },
        at,
        verifier_id=verifier,
    )
