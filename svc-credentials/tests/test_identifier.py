"""GB/T 36904 identifiers and their ISO/IEC 7064 MOD 37,36 check character."""

import random

import pytest

from tongban.credentials.identifier import (
    ALPHABET, build_identifier, check_type_code, mod37_36_check, mod37_36_valid, parse_identifier,
)
from tongban.shared.ids import InvalidIdentifier, credit_code_check_char

DEPT = "11442000007234512" + credit_code_check_char("11442000007234512")
TYPE_CODE = DEPT + "001"


@pytest.mark.parametrize(("data", "check"), [
    # By hand: P starts at 36; per character P = ((P + v) mod 36, 0 -> 36) * 2 mod 37; check = (37 - P) mod 36.
    ("1", "Z"),     # (36+1)%36=1 -> 2; (37-2)%36=35 -> Z
    ("A", "H"),     # (36+10)%36=10 -> 20; (37-20)%36=17 -> H
    ("AB", "C"),    # 20; (20+11)%36=31 -> 62%37=25; (37-25)%36=12 -> C
    ("00", "4"),    # (36+0)%36=0 -> 36 -> 72%37=35; (35+0)%36=35 -> 70%37=33; (37-33)%36=4
])
def test_check_character_hand_vectors(data: str, check: str) -> None:
    assert mod37_36_check(data) == check
    assert mod37_36_valid(data + check)


def test_every_single_substitution_is_caught_and_almost_every_swap() -> None:
    body = f"1215630052{TYPE_CODE}{DEPT}1000000011"
    full = body + mod37_36_check(body)
    for i, original in enumerate(full):
        for replacement in ALPHABET:
            if replacement != original:
                assert not mod37_36_valid(full[:i] + replacement + full[i + 1:])
    # A hybrid system catches most, not all, adjacent transpositions (ISO/IEC 7064 says so).
    rng = random.Random(7064)
    swaps = caught = 0
    for _ in range(500):
        text = "".join(rng.choice(ALPHABET) for _ in range(30))
        text += mod37_36_check(text)
        for i in range(len(text) - 1):
            if text[i] != text[i + 1]:
                swaps += 1
                caught += not mod37_36_valid(text[:i] + text[i + 1] + text[i] + text[i + 2:])
    assert caught / swaps > 0.99


def test_identifier_round_trip_and_refusals() -> None:
    ident = build_identifier(TYPE_CODE, DEPT, 100000001, 2)
    assert ident.startswith(f"1.2.156.3005.2.{TYPE_CODE}.{DEPT}.100000001.2.")
    parsed = parse_identifier(ident)
    assert (parsed.type_code, parsed.issuer_code, parsed.serial, parsed.version) == (TYPE_CODE, DEPT, 100000001, 2)
    wrong = ident[:-1] + ("0" if ident[-1] != "0" else "1")
    with pytest.raises(InvalidIdentifier, match="MOD 37,36"):
        parse_identifier(wrong)
    with pytest.raises(InvalidIdentifier, match="reads"):
        parse_identifier("1.2.156.3005.2.nonsense")
    with pytest.raises(InvalidIdentifier, match="check character"):
        check_type_code(DEPT[:-1] + ("0" if DEPT[-1] != "0" else "1") + "001")


# Published by real licence systems (GB/T 36904): the check is over the parts after the root.
REAL_IDENTIFIERS = [
    "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
]


@pytest.mark.parametrize("real", REAL_IDENTIFIERS)
def test_real_identifiers_are_well_formed_and_one_changed_character_is_not(real: str) -> None:
    parsed = parse_identifier(real)
    assert not parsed.legacy_check and str(parsed) == real            # leading zeros kept: 001 stays 001
    assert (parsed.serial_text, parsed.version_text) == tuple(real.split(".")[7:9])
    check_at = len(real) - 1
    for i, ch in enumerate(real):
        if ch == "." or i < len("1.2.156.3005.2."):
            continue
        other = "1" if ch != "1" else "2"
        changed = real[:i] + other + real[i + 1:]
        with pytest.raises(InvalidIdentifier):
            parse_identifier(changed)
    assert check_at


def test_identifiers_issued_under_the_former_rule_are_still_read_and_marked() -> None:
    body = f"1.2.156.3005.2.{TYPE_CODE}.{DEPT}.100000001.1"
    former = f"{body}.{mod37_36_check(body.replace('.', ''))}"
    standard = build_identifier(TYPE_CODE, DEPT, 100000001, 1)
    assert former != standard
    with pytest.raises(InvalidIdentifier):
        parse_identifier(former)                                     # not a standard identifier
    assert parse_identifier(former, legacy=True).legacy_check is True   # but our own, looked up
    assert parse_identifier(standard, legacy=True).legacy_check is False
