"""Identifier checks: resident ID numbers (GB 11643) and unified social credit codes (GB 32100).

Both carry a check character; a wrong one is refused. The 15-digit legacy resident ID is
upgraded to 18 digits (century 19 inserted, check digit computed). Masking helpers live here
too, so every service masks the same way.
"""

from __future__ import annotations

import datetime as dt
import re

_ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_ID_CHECK = "10X98765432"
_ID18 = re.compile(r"^\d{17}[\dX]$")
_ID15 = re.compile(r"^\d{15}$")

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = [pow(3, i, 31) for i in range(17)]
_CREDIT = re.compile(rf"^[{CREDIT_ALPHABET}]{{18}}$")
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


class InvalidIdentifier(ValueError):
    """Raised with a human-readable reason when an identifier fails its check."""


def resident_id_check_digit(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def normalize_resident_id(value: str) -> str:
    """Return the canonical 18-character resident ID number or raise InvalidIdentifier."""
    v = value.strip().upper()
    if _ID15.match(v):
        v17 = v[:6] + "19" + v[6:]
        v = v17 + resident_id_check_digit(v17)
    elif not _ID18.match(v):
        raise InvalidIdentifier("a resident ID number has 18 characters: 17 digits and a check digit or X")
    try:
        dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError as exc:
        raise InvalidIdentifier("the birth date inside the resident ID number is not a real date") from exc
    if resident_id_check_digit(v[:17]) != v[17]:
        raise InvalidIdentifier("the resident ID number's check digit is wrong")
    return v


def credit_code_check_char(first17: str) -> str:
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def credit_code_in_region(code: str, region: str) -> str:
    """The credit code with its region (characters 3-8, GB/T 2260) replaced and its check character
    recomputed: the same synthetic organisation in another city, for demo data and tests."""
    first17 = code[:2] + region + code[8:17]
    return first17 + credit_code_check_char(first17)


def organisation_code_ok(credit_code: str) -> bool:
    """The inner GB 11714 organisation code (characters 9-17). Some real codes fail it: warn only."""
    body, check = credit_code[8:16], credit_code[16]
    if any(c not in _ORG_ALPHABET for c in body):
        return False
    c9 = 11 - sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _ORG_WEIGHTS)) % 11
    expected = "X" if c9 == 10 else "0" if c9 == 11 else str(c9)
    return expected == check


def normalize_credit_code(value: str) -> str:
    """Return the canonical unified social credit code or raise InvalidIdentifier."""
    v = value.strip().upper()
    if not _CREDIT.match(v):
        raise InvalidIdentifier(
            "a unified social credit code has 18 characters from 0-9 and A-Y without I, O, S, V, Z"
        )
    if credit_code_check_char(v[:17]) != v[17]:
        raise InvalidIdentifier("the credit code's check character is wrong")
    return v


def mask_resident_id(value: str) -> str:
    """Keep region prefix and last 4: 442000********123X."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[-4:] if len(value) >= 11 else "*" * len(value)


_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """Mask anything shaped like a resident ID number or a mobile number inside free text."""
    text = _ID_IN_TEXT.sub(lambda m: m.group(1) + "********" + m.group(3), text)
    return _PHONE_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(3), text)
