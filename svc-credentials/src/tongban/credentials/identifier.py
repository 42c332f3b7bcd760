"""Licence identifiers (GB/T 36904): `1.2.156.3005.2.<type code>.<issuer credit code>.<serial>.<version>.<check>`.

The check character is ISO/IEC 7064 MOD 37,36 (the hybrid system over 0-9A-Z) computed over the
parts after the root `1.2.156.3005.2.`, dots removed — as real licence systems compute it
(`1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F` checks that way; see
tests/test_identifier.py for the published examples). Serial and version keep their digits as
written (`001` stays `001`).

Carried over: until 2026-12 this platform computed the check over the root too. Those
identifiers are signed into issued licences and presentations, so they are not rewritten. A
lookup of one of our own licences (`parse_identifier(..., legacy=True)`, then the exact string
in the licence table) also accepts a check that matches only the old rule, marked
`legacy_check`: the table, not the check character, vouches for it, so a mistyped identifier
that happens to match the old rule finds nothing. Everywhere else the standard rule alone
decides; new identifiers (and every licence's next version) follow it.
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
ROOT = PREFIX + "."


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


def standard_check(body: str) -> str:
    """The GB/T 36904 check character of `body` (the identifier without `.<check>`): over the parts
    after the root, dots removed."""
    return mod37_36_check(body.removeprefix(ROOT).replace(".", ""))


def legacy_check(body: str) -> str:
    """The check this platform computed before 2026-12 (over the root too): read, never written."""
    return mod37_36_check(body.replace(".", ""))


@dataclass(frozen=True)
class LicenceIdentifier:
    type_code: str
    issuer_code: str
    serial: int
    version: int
    serial_text: str = ""
    version_text: str = ""
    legacy_check: bool = False     # issued under this platform's former check rule (see module doc)

    def body(self) -> str:
        return (f"{PREFIX}.{self.type_code}.{self.issuer_code}.{self.serial_text or self.serial}"
                f".{self.version_text or self.version}")

    def __str__(self) -> str:
        body = self.body()
        return f"{body}.{standard_check(body)}"


def build_identifier(type_code: str, issuer_code: str, serial: int, version: int) -> str:
    return str(LicenceIdentifier(type_code, issuer_code, serial, version))


def parse_identifier(value: str, legacy: bool = False) -> LicenceIdentifier:
    """Parse and check a licence identifier; raise InvalidIdentifier saying what is wrong.
    `legacy`: also accept this platform's former check rule (for looking up our own licences)."""
    m = _IDENTIFIER.match(value.strip())
    if m is None:
        raise InvalidIdentifier(
            "a licence identifier reads 1.2.156.3005.2.<type code>.<issuer credit code>.<serial>.<version>.<check>")
    check_type_code(m["type"])
    normalize_credit_code(m["issuer"])
    body = value.strip()[:-2]
    former = False
    if standard_check(body) != m["check"]:
        if not legacy or legacy_check(body) != m["check"]:
            raise InvalidIdentifier("the licence identifier's check character (ISO/IEC 7064 MOD 37,36) is wrong")
        former = True
    return LicenceIdentifier(m["type"], m["issuer"], int(m["serial"]), int(m["version"]), m["serial"], m["version"],
                             former)
