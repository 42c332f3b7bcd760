"""Licence identifiers (GB/T 36904): `1.2.156.3005.2.<type code>.<issuer credit code>.<serial>.<version>.<check>`.

The check character is ISO/IEC 7064 MOD 37,36 (the hybrid system over 0-9A-Z) computed over
every character of the identifier before it except the dots, OID prefix included: the dots are
presentation only, and a check that covers the prefix also catches a mistyped arc.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tongban.shared.ids import InvalidIdentifier, normalize_credit_code

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_M = 36
PREFIX = "1.2.156.3005.2"
_TYPE_CODE = re.compile(r"^[0-9A-Z]{18}\d{3}$")
_IDENTIFIER = re.compile(
    r"^1\.2\.156\.3005\.2\.(?P<type>[0-9A-Z]{18}\d{3})\.(?P<issuer>[0-9A-Z]{18})\."
    r"(?P<serial>\d{1,20})\.(?P<version>\d{1,4})\.(?P<check>[0-9A-Z])$")


def mod37_36_check(data: str) -> str:
    """ISO/IEC 7064 MOD 37,36: the check character appended to `data` (characters of 0-9A-Z)."""
    p = _M
    for ch in data:
        value = ALPHABET.find(ch)
        if value < 0:
            raise InvalidIdentifier(f"character {ch!r} is outside 0-9A-Z")
        p = (p + value) % _M or _M
        p = (p * 2) % (_M + 1)
    return ALPHABET[(_M + 1 - p) % _M]


def mod37_36_valid(data_with_check: str) -> bool:
    """True when the last character is the right MOD 37,36 check for the ones before it."""
    if len(data_with_check) < 2:
        return False
    try:
        return mod37_36_check(data_with_check[:-1]) == data_with_check[-1]
    except InvalidIdentifier:
        return False


def check_type_code(value: str) -> str:
    """A licence type code: the defining body's 18-character credit code and 3 digits."""
    v = value.strip().upper()
    if not _TYPE_CODE.match(v):
        raise InvalidIdentifier("a licence type code is an 18-character credit code followed by 3 digits")
    normalize_credit_code(v[:18])
    return v


@dataclass(frozen=True)
class LicenceIdentifier:
    type_code: str
    issuer_code: str
    serial: int
    version: int

    def body(self) -> str:
        return f"{PREFIX}.{self.type_code}.{self.issuer_code}.{self.serial}.{self.version}"

    def __str__(self) -> str:
        body = self.body()
        return f"{body}.{mod37_36_check(body.replace('.', ''))}"


def build_identifier(type_code: str, issuer_code: str, serial: int, version: int) -> str:
    return str(LicenceIdentifier(type_code, issuer_code, serial, version))


def parse_identifier(value: str) -> LicenceIdentifier:
    """Parse and check a licence identifier; raise InvalidIdentifier saying what is wrong."""
    m = _IDENTIFIER.match(value.strip())
    if m is None:
        raise InvalidIdentifier(
            "a licence identifier reads 1.2.156.3005.2.<type code>.<issuer credit code>.<serial>.<version>.<check>")
    check_type_code(m["type"])
    normalize_credit_code(m["issuer"])
    body = value.strip()[:-2]
    if mod37_36_check(body.replace(".", "")) != m["check"]:
        raise InvalidIdentifier("the licence identifier's check character (ISO/IEC 7064 MOD 37,36) is wrong")
    return LicenceIdentifier(m["type"], m["issuer"], int(m["serial"]), int(m["version"]))
