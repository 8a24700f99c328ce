"""The protocol file: the shipped default, its hash, and every way a file can be malformed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bmac_workflow.errors import InvalidData
from bmac_workflow.protocol import DEFAULTS, default_ranges, default_text, load, parse

DEFAULT = default_text()
# The shipped protocol of the first release, which spelled every range out: stored in existing
# databases, it must keep parsing to the same limits.
FIRST = (Path(__file__).parents[1] / "fixtures" / "protocol-bmac-knee-2026.1.toml").read_text()


def edited(old: str, new: str) -> str:
    """The default protocol with one line changed (the line must exist)."""
    assert re.search(old, DEFAULT, flags=re.M), old
    return re.sub(old, new, DEFAULT, count=1, flags=re.M)


def test_the_shipped_protocol_holds_the_spec_defaults() -> None:
    protocol = load(None)
    assert protocol.version == "bmac-knee-2026.4"
    assert protocol.kl_grades == {2, 3}
    assert protocol.icrs_grades == {3, 4}
    assert protocol.kl_arthroplasty == 4
    assert protocol.kl_modalities == {"xray"}
    assert protocol.icrs_modalities == {"mri", "arthroscopy"}
    assert protocol.window_minutes == 120
    assert list(protocol.visits) == ["1w", "1m", "3m", "6m", "12m", "24m"]
    assert protocol.visits["1w"] == 7 and protocol.visits["24m"] == 730
    assert protocol.final_visit == "24m"


def test_a_protocol_is_identified_by_the_hash_of_its_exact_content() -> None:
    a = parse(DEFAULT)
    b = parse(edited(r"^window_minutes = 120$", "window_minutes = 90"))
    assert a.sha256 != b.sha256
    assert a.sha256 == parse(DEFAULT).sha256
    assert b.window_minutes == 90


def test_a_protocol_file_is_selected_by_path(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(edited(r'^version = ".*"$', 'version = "site-b"'), encoding="utf-8")
    assert load(str(path)).version == "site-b"


def test_a_missing_protocol_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidData, match="cannot read protocol file"):
        load(str(tmp_path / "nope.toml"))


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (r'^version = ".*"$', "", "version"),
        (r'^version = ".*"$', "version = 2", "version"),
        (r'^version = ".*"$', 'version = "  "', "version"),
        (r"^window_minutes = 120$", "window_minutes = 0", "injection.window_minutes"),
        (r"^window_minutes = 120$", "window_minutes = nan", "injection.window_minutes"),
        (r"^window_minutes = 120$", "window_minutes = inf", "injection.window_minutes"),
        (r"^window_minutes = 120$", 'window_minutes = "2h"', "injection.window_minutes"),
        (r"^window_minutes = 120$", "window_minute = 120", "injection.window_minute"),
        (r"^kl_grades = .*$", "kl_grades = [2, 5]", "eligibility.kl_grades"),
        (r"^kl_grades = .*$", "kl_grades = []", "eligibility.kl_grades"),
        (r"^kl_grades = .*$", "kl_grades = [true]", "eligibility.kl_grades"),
        (r"^kl_arthroplasty = 4$", "kl_arthroplasty = 3", "eligibility.kl_arthroplasty"),
        (r"^kl_modalities = .*$", 'kl_modalities = ["ct"]', "insurance.kl_modalities"),
        (r"^final_visit = .*$", 'final_visit = "12m"', "follow_up.final_visit"),
        (r"^final_visit = .*$", 'final_visit = "36m"', "follow_up.final_visit"),
        (r'^visits = \{ "1w" = 7', 'visits = { "2w" = 14', "follow_up.visits"),
        (r'^visits = \{ "1w" = 7', 'visits = { "1w" = -7', "follow_up.visits"),
        *(
            (r"^final_visit = .*$", f'final_visit = "24m"\n\n[ranges]\n{bad}', key)
            for bad, key in (
                ("aspirate_ml = [240.0, 1.0]", "ranges.aspirate_ml"),
                ("aspirate_ml = [1.0]", "ranges.aspirate_ml"),
                ("aspirate_ml = [-1.0, 5.0]", "ranges.aspirate_ml"),
                ("aspirate_ml = [1.0, nan]", "ranges.aspirate_ml"),
                ("aspirat_ml = [1.0, 9.0]", "ranges.aspirat_ml"),
            )
        ),
        (r"^title = .*$", 'titel = "typo"', "titel"),
    ],
)
def test_a_malformed_protocol_is_refused_naming_the_key(old: str, new: str, key: str) -> None:
    with pytest.raises(InvalidData) as refused:
        parse(edited(old, new))
    assert f"`{key}`" in refused.value.message
    assert refused.value.exit_code == 5


def test_a_file_that_is_not_toml_is_refused() -> None:
    with pytest.raises(InvalidData, match="not valid TOML"):
        parse("version = ")


def test_the_first_shipped_protocol_still_gives_the_limits_it_gave() -> None:
    first, now = parse(FIRST, stored=True), load(None)
    assert first.version == "bmac-knee-2026.1"
    assert now.ranges == {}  # the shipped file leaves every range to the steps' defaults
    assert {name: first.range(name) for name in default_ranges()} == {
        name: now.range(name) for name in default_ranges()
    }
    assert (first.window_minutes, first.visits, first.kl_grades) == (
        now.window_minutes,
        now.visits,
        now.kl_grades,
    )


def test_a_key_a_protocol_leaves_out_takes_its_default_and_says_so() -> None:
    text = edited(r"^window_minutes = 120$", "")
    protocol = parse(text)
    assert protocol.window_minutes == DEFAULTS["injection.window_minutes"]
    assert "injection.window_minutes" in protocol.defaulted
    assert "injection.window_minutes" not in load(None).defaulted


def test_a_new_file_with_sign_in_limits_is_refused_with_the_way_to_set_them() -> None:
    # Whoever passes a protocol file must not set how many PINs may be guessed.
    text = DEFAULT + "\n[signing]\nmax_failed_pins = 1000000\n"
    with pytest.raises(InvalidData) as refused:
        parse(text)
    assert "[signing] is no longer part of a protocol" in refused.value.message
    assert "bmac settings set" in refused.value.message
    assert parse(text, stored=True).window_minutes == 120  # a stored one still reads


def test_a_stored_protocol_passes_over_keys_this_version_does_not_know() -> None:
    text = edited(r"^window_minutes = 120$", "window_minutes = 90\nfuture_key = 3")
    with pytest.raises(InvalidData, match="unknown key"):
        parse(text)
    assert parse(text, stored=True).window_minutes == 90


def test_the_shipped_protocol_states_every_default_it_relies_on() -> None:
    # The file a clinic copies spells out each policy value; only the ranges (declared by
    # each step with its data) are left to their defaults.
    assert load(None).defaulted == ()
