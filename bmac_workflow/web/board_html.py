"""The board's table rows as HTML, made in Python: a board of thousands of cases is rendered
in a few milliseconds, where a Jinja2 loop took a quarter of a second (benchmarks/web.py).

Every stored text is escaped (markupsafe, as Jinja2's autoescape) and written in ASCII. The
part of a case's row that only its version changes is kept with the case (`BoardCache`), and
the whole row until its minutes move; the markup is that of `_board.html` before (the browser
test reads it).
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from ..services.board import OnBoard, row_at
from ..services.board_deviations import OpenDeviations
from ..services.board_worklist import Worklist
from ..timeutil import local


def _text(value: str) -> str:
    """Stored text for the page: escaped, and anything beyond ASCII as a character reference
    (`•` is `&#8226;`), so that the page stays one byte a character in memory: a board of
    thousands of rows is joined and encoded several times faster."""
    return str(escape(value)).encode("ascii", "xmlcharrefreplace").decode("ascii")


def _case_parts(case: OnBoard) -> tuple[str, str]:
    """The escaped HTML of a case's row around its minutes in the state, at its version."""
    parts: tuple[str, str] | None = case.scratch.get("html")
    if parts is None:
        head = (
            f'<tr data-case="{case.case_id}">\n'
            f'  <td><a href="/cases/{case.case_id}">{case.case_id}</a></td>\n'
            f"  <td>{_text(case.knee)}</td>\n"
            f"  <td>{_text(case.patient)}</td>\n"
            "  <td>"
        )
        tail = (
            " min</td>\n"
            f"  <td>{_text(case.signed_by)}</td>\n"
            f"  <td>{_text(case.next_step or '-')}</td>\n"
            "  <td>"
        )
        parts = case.scratch["html"] = (head, tail)
    return parts


def _badge(count: int) -> str:
    """A case's open deviations, as its row shows them (nothing when none is open)."""
    if not count:
        return ""
    return f'<span class="deviations">{count} open deviation{"s" if count > 1 else ""}</span>'


def case_rows(cases: Iterable[OnBoard], flagged: OpenDeviations, at: int) -> Markup:
    """The `<tr>` of each case in flight at `at` (µs since the epoch, `board.row_at`), with its
    open deviations."""
    out: list[str] = []
    append = out.append
    counts = flagged.counts
    for case in cases:
        count = counts.get(case.case_id, 0) if counts else 0
        # A row is kept with the case (its version) while its minutes, countdown and open
        # deviations hold: (from, until, deviations, html).
        made = case.scratch.get("row")
        if made is not None and made[0] <= at < made[1] and made[2] == count:
            append(made[3])
            continue
        minutes, left, colour, until = row_at(case, at)
        head, tail = case.scratch.get("html") or _case_parts(case)
        if colour and left is not None:
            text = f"passed {-left} min ago" if left < 0 else f"{left} min left"
            window = f'<span class="countdown {colour}">{text}</span>'
        else:
            window = ""
        row = f"{head}{minutes}{tail}{window}</td>\n  <td>{_badge(count)}</td>\n</tr>\n"
        case.scratch["row"] = (at, until, count, row)
        append(row)
    return Markup("".join(out))


def due_rows(worklist: Worklist, flagged: OpenDeviations) -> Markup:
    """The `<tr>` of each follow-up visit due, with its case's open deviations (made once per
    worklist and open deviations)."""
    kept: tuple[object, Markup] | None = worklist.scratch.get("html")
    if kept is not None and kept[0] == flagged.key:
        return kept[1]
    out = []
    for visit, late in worklist:
        case_id = visit.case_id
        overdue = f'<span class="overdue">{late} days overdue</span>' if late else "-"
        out.append(
            f'<tr data-case="{case_id}"><td><a href="/cases/{case_id}">{case_id}</a></td>'
            f"<td>{_text(visit.patient)}</td><td>{_text(visit.knee)}</td>"
            f"<td>{_text(visit.visit)}</td><td>{visit.due_date.isoformat()}</td>\n"
            f"<td>{overdue}</td><td>{_badge(flagged.of(case_id))}</td></tr>\n"
        )
    made = Markup("".join(out))
    worklist.scratch["html"] = (flagged.key, made)
    return made


def deviation_rows(flagged: OpenDeviations) -> Markup:
    """The `<tr>` of each open deviation, by number (made once per open deviations: the board
    keeps them while they are the same)."""
    made: Markup | None = flagged.scratch.get("html")
    if made is not None:
        return made
    made = flagged.scratch["html"] = Markup(
        "".join(
            f'<tr data-deviation="{d.number}"><td>{d.number}</td>'
            f'<td><a href="/cases/{d.case_id}">{d.case_id}</a></td>'
            f"<td>{_text(d.patient)}</td><td>{_text(d.kind)}</td><td>{d.entry}</td>"
            f"<td>{_text(local(d.opened_at))}</td><td>{_text(d.opened_by)}</td></tr>\n"
            for d in flagged.listed
        )
    )
    return made
