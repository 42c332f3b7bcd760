"""The identifier checks against real, published identifiers: each is accepted, and every
one-character change of it is refused (GB 11643's MOD 11-2 and GB 32100's MOD 31 check
characters catch any single substitution, with prime moduli and no zero weight)."""

import pytest

from tongban.shared.ids import (
    CREDIT_ALPHABET, InvalidIdentifier, credit_code_check_char, normalize_credit_code, normalize_resident_id,
    organisation_code_ok,
)

# GB 11643-1999's own worked examples (the standard's text and its appendix).
RESIDENT_IDS = ["11010519491231002X", "440524188001010014"]
# Unified social credit codes as the companies publish them (business licences, annual reports).
CREDIT_CODES = {
    "91350100M000100Y43": "GB 32100 example in wide circulation (Fuzhou)",
    "914403001922038216": "华为技术有限公司 (Shenzhen)",
    "91440300708461136T": "深圳市腾讯计算机系统有限公司",
    "91330100716105852F": "阿里巴巴（中国）有限公司 (Hangzhou)",
    "91110108551385082Q": "小米科技有限责任公司 (Beijing)",
}


def _one_character_changes(value: str, alphabet: str):
    for i, c in enumerate(value):
        for other in alphabet:
            if other != c:
                yield value[:i] + other + value[i + 1:]


@pytest.mark.parametrize("value", RESIDENT_IDS)
def test_real_resident_ids_pass_and_every_one_character_change_is_refused(value):
    assert normalize_resident_id(value) == value
    assert normalize_resident_id(value.lower()) == value
    for changed in _one_character_changes(value, "0123456789X"):
        with pytest.raises(InvalidIdentifier):
            normalize_resident_id(changed)


@pytest.mark.parametrize("value", list(CREDIT_CODES))
def test_real_credit_codes_pass_and_every_one_character_change_is_refused(value):
    assert normalize_credit_code(value) == value
    for changed in _one_character_changes(value, CREDIT_ALPHABET):
        with pytest.raises(InvalidIdentifier):
            normalize_credit_code(changed)


def test_the_inner_organisation_code_is_a_warning_not_a_refusal():
    # These real codes carry a correct GB 11714 organisation code too...
    assert all(organisation_code_ok(v) for v in CREDIT_CODES)
    # ...but a code whose outer check character is right is accepted even when the inner one is not.
    first17 = "91440300708461137"  # Tencent's with the organisation code's check digit changed
    code = first17 + credit_code_check_char(first17)
    assert normalize_credit_code(code) == code and not organisation_code_ok(code)
