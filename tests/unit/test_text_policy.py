"""The text policy: registration numbers however written, lengths, characters per kind of field,
text made safe for a terminal and for a spreadsheet (issue 15)."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bmac_workflow import rules, text_policy
from bmac_workflow.errors import InvalidData
from bmac_workflow.text_policy import FREE_TEXT, ID_FIELD, NAME_FIELD, TEXT_FIELD

# What people and keyboards put between the two halves (U+FF0D: a Korean IME in full-width
# mode; U+00AD soft hyphen; U+200B zero-width space; U+2060 word joiner).
SEPARATORS = [
    "", "-", "\uff0d", "\u2212", "\ufe63", "\u00ad", "\u200b", "\u2060", "\u2010", "\u2011",
    "\u2013", "\u2014", "_", ".", "/", "\t", " ", " - ", "\x1b", "\x00", "\u202e", "\u3000",
]  # fmt: skip
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@st.composite
def registration_numbers(draw: st.DrawFn) -> str:
    born = draw(st.dates(date(1930, 1, 1), date(2025, 12, 31)))
    sex = draw(st.sampled_from("12345678"))
    rest = draw(st.text("0123456789", min_size=6, max_size=6))
    number = f"{born:%y%m%d}" + draw(st.sampled_from(SEPARATORS)) + sex + rest
    if draw(st.booleans()):
        number = number.translate(FULL_WIDTH)
    around = st.text(st.sampled_from("abc xyz;:()"), max_size=12)
    return draw(around) + number + draw(around)


@given(registration_numbers())
def test_a_registration_number_is_found_however_it_is_written(text: str) -> None:
    assert text_policy.holds_rrn(text)
    for field in (ID_FIELD, NAME_FIELD, TEXT_FIELD):
        with pytest.raises(InvalidData, match="resident registration number"):
            text_policy.check(text[: field.limit], "--reason", field)
    with pytest.raises(InvalidData, match="registration number"):
        rules.check_patient_ref(text)


@pytest.mark.parametrize(
    "text",
    [
        "per 900101-1234567",  # a correction reason
        "900101－1234567",  # U+FF0D
        "9001011234567",  # no separator at all
        "pt 900101\u200b1234567 seen",
        "900101_1234567",
        "900101.1234567",
        "900101/1234567",
        "900101\t1234567",
        "900101 1234567",
        "９００１０１－１２３４５６７",
    ],
)
def test_the_writings_the_issue_lists_are_refused(text: str) -> None:
    assert rules.looks_like_rrn(text)


@pytest.mark.parametrize(
    "text",
    [
        "kit lot 202311-0000001",  # month 23
        "K-2291",
        "EAN 8809876543210",  # 88-09-87: no such day
        "900101-9234567",  # 9: born in the 1800s, no patient
        "SP-0001",
        "12345678901234",  # 14 digits
    ],
)
def test_lots_and_codes_that_are_no_birth_date_pass(text: str) -> None:
    assert not text_policy.holds_rrn(text)


def test_a_patient_ref_is_refused_on_the_shape_alone() -> None:
    with pytest.raises(InvalidData, match="registration number"):
        rules.check_patient_ref("P 999999\uff0d0000000")


@given(st.integers(NAME_FIELD.limit + 1, 20_000))
def test_a_value_too_long_names_the_field_and_limit_and_echoes_80_characters(n: int) -> None:
    with pytest.raises(InvalidData) as refused:
        text_policy.check("x" * n, "--name", NAME_FIELD)
    message = refused.value.message
    assert "--name" in message and f"at most {NAME_FIELD.limit}" in message
    assert len(message) < 200


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\n", "\r", "\u202e", "\u2066", "\u200b"])
def test_identifiers_and_names_refuse_control_and_bidi_characters(char: str) -> None:
    for field in (ID_FIELD, NAME_FIELD):
        with pytest.raises(InvalidData, match=f"U\\+{ord(char):04X}"):
            text_policy.check(f"Kim{char}Ji-woo", "--name", field)
    assert text_policy.check(f"ok{char}ok", "--reason", TEXT_FIELD)  # free text keeps it


def test_free_text_refuses_what_no_database_can_store() -> None:
    for bad in ("a\x00b", "a\udcffb"):
        with pytest.raises(InvalidData, match="not valid text"):
            text_policy.check(bad, "--reason", TEXT_FIELD)
    assert TEXT_FIELD.kind == FREE_TEXT


@given(st.text())
def test_terminal_text_holds_no_control_or_format_character(text: str) -> None:
    shown = text_policy.for_terminal(text)
    assert all(
        c == " " or unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")
        for c in shown
    )
    assert text_policy.for_terminal("Kim Ji-woo") == "Kim Ji-woo"
    assert text_policy.for_terminal("\x1b[2J") == "\\x1b[2J"


@given(st.text())
def test_no_csv_cell_starts_like_a_formula(text: str) -> None:
    cell = text_policy.for_csv(text)
    assert isinstance(cell, str) and not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell.removeprefix("'") == text or cell == text


def test_dates_with_29_february_are_birth_dates() -> None:
    assert text_policy.holds_rrn("000229-3123456")
    assert not text_policy.holds_rrn("000230-3123456")


def _accepted_fully(value: str, field: text_policy.Field) -> bool:
    try:
        text_policy.checked_fully(value, "--x", field)
    except InvalidData:
        return False
    return True


@given(
    st.one_of(
        st.text(),
        st.text(st.characters(max_codepoint=127)),
        registration_numbers(),
        st.text("0123456789- _./:", max_size=20),
    ),
    st.sampled_from([ID_FIELD, NAME_FIELD, TEXT_FIELD, text_policy.Field(FREE_TEXT, 8)]),
)
def test_the_fast_path_accepts_only_what_the_full_check_accepts(
    value: str, field: text_policy.Field
) -> None:
    # The fast path is for printable ASCII; there, it gives the full check's answer.
    if text_policy.acceptable(value, field):
        assert _accepted_fully(value, field)
    elif value.isascii() and value.isprintable():
        assert not _accepted_fully(value, field)
