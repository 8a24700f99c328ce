"""The one policy for text a person types: length per field, what characters each kind of field
may hold, registration numbers refused everywhere, and text made safe on a terminal and in CSV.

Three kinds of field (docs/commands.md, "Text fields"):
- an *identifier* (patient reference, specimen label, lot, device, operator id) and a *name*
  (an operator's printed name) hold no control character, bidi override or zero-width mark:
  what is printed is what was typed, and one id cannot look like another;
- *free text* (reasons, adverse events) may hold any printable text; a terminal shows its
  control characters escaped (`for_terminal`), a CSV cell is never read as a formula (`for_csv`).

Every field has a maximum length, checked before the database on both dialects, and an error
echoes at most 80 characters of what was typed. No field may hold a Korean resident registration
number (PIPA Art. 24-2), however it is written: full-width digits, any dash or separator,
zero-width or control characters between the digits, or none at all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from .errors import InvalidData

IDENTIFIER, NAME, FREE_TEXT = "identifier", "name", "free text"
ECHO_LIMIT = 80


@dataclass(frozen=True)
class Field:
    """A kind of field and its maximum length in characters."""

    kind: str
    limit: int


ID_FIELD = Field(IDENTIFIER, 64)
NAME_FIELD = Field(NAME, 100)
TEXT_FIELD = Field(FREE_TEXT, 500)

# Characters that separate the two halves of a registration number when people type it: every
# dash (category Pd covers U+2010-2015, U+FE63, U+FF0D ...), the minus sign, and these.
_SEPARATORS = frozenset("\u2212\u00ad_./\\:,;|~+*#=")
# Directional formatting characters: they reorder what a terminal shows (U+202E turns a line
# around); category Cf holds them and the zero-width ones.
_RRN = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{2})-*([1-8])\d{6}(?!\d)")
_RRN_SHAPE = re.compile(r"(?<!\d)\d{6}-*\d{7}(?!\d)")


def _folded(text: str) -> str:
    """`text` as a registration number is matched: NFKC (full-width digits and dashes become
    ASCII), every dash, separator, space, control and format character one `-`."""
    out = []
    for char in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(char)
        if char in _SEPARATORS or category in ("Pd", "Cc", "Cf", "Zs", "Zl", "Zp", "Cs"):
            out.append("-")
        else:
            out.append(char)
    return "".join(out)


def _birth_date(yy: str, mm: str, dd: str) -> bool:
    """Whether YYMMDD is a date in some century (29 February: some leap year)."""
    try:
        date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        return False
    return True


def holds_rrn(text: str) -> bool:
    """True when `text` holds a resident registration number: six digits that are a birth date
    (YYMMDD), then a sex and century digit (1-8) and six more digits, with or without anything
    between them."""
    return any(_birth_date(*m.group(1, 2, 3)) for m in _RRN.finditer(_folded(text)))


def shaped_like_rrn(text: str) -> bool:
    """True for 6 + 7 digits in any writing, date or not (a patient reference is refused on the
    shape alone: it is what a registration number typed by mistake looks like)."""
    return _RRN_SHAPE.search(_folded(text)) is not None or holds_rrn(text)


def _unsafe(char: str) -> bool:
    """A character an identifier or a name may not hold (control, format, separator lines)."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn")


def shown(text: str) -> str:
    """What an error line echoes of `text`: escaped, at most 80 characters."""
    safe = for_terminal(text)
    return "'" + (safe if len(safe) <= ECHO_LIMIT else safe[: ECHO_LIMIT - 3] + "...") + "'"


# `_folded` on printable ASCII: its separators and the space become `-`, the rest stays.
_ASCII_FOLD = str.maketrans(dict.fromkeys([" ", *(c for c in _SEPARATORS if c.isascii())], "-"))


def acceptable(value: str, field: Field) -> bool:
    """True when `check` would accept `value` at once: printable ASCII within the field's
    length and no registration number in it (NFKC leaves such text as it is, and it holds no
    character any kind of field refuses). What a person types is nearly always that, and a
    step checks every text it holds: the full check stays for the rest, and a property test
    holds the two to the same answer."""
    if len(value) > field.limit or not value.isascii() or not value.isprintable():
        return False
    folded = value.translate(_ASCII_FOLD)
    return _RRN.search(folded) is None or not any(
        _birth_date(*m.group(1, 2, 3)) for m in _RRN.finditer(folded)
    )


def check(value: str, option: str, field: Field) -> str:
    """Refuse (exit 5) a value too long for its field, with characters its kind may not hold,
    not valid text, or holding a registration number; returns it unchanged."""
    return value if acceptable(value, field) else checked_fully(value, option, field)


def checked_fully(value: str, option: str, field: Field) -> str:
    """`check` without its fast path: every rule on any text."""
    if len(value) > field.limit:
        raise InvalidData(
            f"{option} is {len(value)} characters long, at most {field.limit} are allowed: "
            f"shorten it (got {shown(value)})"
        )
    if holds_rrn(value):
        raise InvalidData(
            f"{option} looks like it holds a resident registration number, which may not be "
            "stored: leave it out"
        )
    if any(unicodedata.category(c) == "Cs" for c in value) or "\x00" in value:
        raise InvalidData(f"{option} is not valid text (got {shown(value)}): type it again")
    if field.kind != FREE_TEXT:
        bad = next((c for c in value if _unsafe(c)), None)
        if bad is not None:
            kind = "a name" if field.kind == NAME else "an identifier"
            raise InvalidData(
                f"{option} holds a control, bidi or invisible character (U+{ord(bad):04X}), "
                f"which {kind} may not hold: type it again (got {shown(value)})"
            )
    return value


def for_terminal(text: str) -> str:
    """`text` as a terminal may show it: control, format and line-separator characters (ESC,
    BEL, newlines, U+202E...) as visible escapes, so that stored text cannot drive the screen."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable() or char == " ":
            out.append(char)
        elif ord(char) <= 0xFF:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out)


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def for_csv(cell: object) -> object:
    """A CSV cell that no spreadsheet reads as a formula: text beginning with = + - @ TAB or CR
    gets a leading `'` (OWASP, CSV injection). Numbers stay numbers."""
    if isinstance(cell, str) and cell.startswith(_FORMULA):
        return "'" + cell
    return cell
