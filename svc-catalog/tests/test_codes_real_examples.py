"""The catalogue's code validators against real published codes (GB/T 2260 regions, implementation
codes built from real credit codes), each also with one character changed."""

import pytest

from tongban.catalog.elements import check_basic_code, check_region
from tongban.catalog.implementation.schemas import split_code

# GB/T 2260 (民政部 行政区划代码): provinces, prefecture-level cities, districts.
REAL_REGIONS = ["110000", "310115", "440000", "440300", "440305", "442000", "810000", "820000", "650000"]
NOT_REGIONS = ["44030", "4403000", "990000", "004403", "440012", "44030A"]


@pytest.mark.parametrize("code", REAL_REGIONS)
def test_real_region_codes_are_accepted(code: str) -> None:
    assert check_region(code) == code


@pytest.mark.parametrize("code", NOT_REGIONS)
def test_malformed_region_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError):
        check_region(code)


def test_an_implementation_code_checks_each_of_its_parts() -> None:
    credit = "11442000MB0000002B"   # a credit code with a correct GB 32100 check character
    basic = "442020000900"
    assert split_code(credit + "4" + basic) == (credit, "4", basic)
    assert check_basic_code(basic) == basic
    for bad in (credit[:-1] + "C" + "4" + basic,     # the credit code's check character changed
                credit + "8" + basic,                # no such exercise level
                credit + "4" + basic[:2] + "99" + basic[4:],   # no such item type
                credit + "4" + basic[:-1]):          # one character short
        with pytest.raises(ValueError):
            split_code(bad)
