import pytest

from tongban.shared.ids import (
    InvalidIdentifier, credit_code_check_char, mask_phone, mask_resident_id, mask_text, normalize_credit_code,
    normalize_resident_id, organisation_code_ok, resident_id_check_digit,
)


def valid_id(first17: str) -> str:
    return first17 + resident_id_check_digit(first17)


def test_resident_id_check_digit_accepts_good_and_refuses_bad():
    good = valid_id("44200019900101123")
    assert normalize_resident_id(good) == good
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(InvalidIdentifier, match="check digit"):
        normalize_resident_id(wrong)


def test_known_published_example_with_x():
    # The GB 11643 worked example: 11010519491231002X.
    assert normalize_resident_id("11010519491231002x") == "11010519491231002X"


def test_legacy_15_digit_id_is_upgraded():
    upgraded = normalize_resident_id("442000900101123")
    assert upgraded[:17] == "44200019900101123" and len(upgraded) == 18
    assert normalize_resident_id(upgraded) == upgraded


@pytest.mark.parametrize("value", ["", "12345", "44200019901301123X", "4420001990010112AB", "4420001990023012"])
def test_malformed_ids_are_refused(value):
    with pytest.raises(InvalidIdentifier):
        normalize_resident_id(value)


def test_credit_code_check_character():
    # A widely published real code: 91350100M000100Y43.
    assert normalize_credit_code("91350100m000100y43") == "91350100M000100Y43"
    code17 = "91442000MA4UJ1234"
    code = code17 + credit_code_check_char(code17)
    assert normalize_credit_code(code) == code
    bad = code17 + ("0" if code[-1] != "0" else "1")
    with pytest.raises(InvalidIdentifier, match="check character"):
        normalize_credit_code(bad)
    with pytest.raises(InvalidIdentifier):
        normalize_credit_code("91442000MA4UJ1234I")  # I is not in the alphabet


def test_inner_organisation_code_is_only_a_warning():
    assert isinstance(organisation_code_ok("91350100M000100Y43"), bool)


def test_masking():
    pid = valid_id("44200019900101123")
    assert mask_resident_id(pid) == "442000********" + pid[-4:]
    assert mask_phone("13812345678") == "138****5678"
    text = f"applicant {pid} phone 13812345678 case 202611220001"
    masked = mask_text(text)
    assert pid not in masked and "13812345678" not in masked and "202611220001" in masked
