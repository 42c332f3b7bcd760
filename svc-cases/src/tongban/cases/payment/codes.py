"""Numbers a payment carries, each from one database sequence (gap-tolerant, never reused).

- 非税缴款码 (non-tax payment code), 20 digits: the city's GB/T 2260 region code (6), the
  order's Beijing date YYMMDD (6), a serial (7, the sequence modulo 10^7), and one Luhn check
  digit over the first 19, so a mistyped code at a bank counter is caught before it is looked up.
- Order number (the providers' out_trade_no, ≤ 32): "TB" + the payment code.
- 电子票据 (e-receipt) number, 18 digits: the 票据代码 (8: province 2, year 2, "0101" for a
  non-tax general receipt) and the 票据号码 (10: the serial). A stand-in for the number the
  finance bureau's e-receipt platform returns; the format is what its receipts print.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return str((10 - total % 10) % 10)


def valid_payment_code(code: str) -> bool:
    return len(code) == 20 and code.isdigit() and luhn_digit(code[:-1]) == code[-1]


async def _next(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT nextval('cases.payment_code_seq')"))).scalar_one())


async def payment_code(session: AsyncSession, city_code: str, on: dt.date) -> str:
    body = f"{city_code}{on:%y%m%d}{await _next(session) % 10_000_000:07d}"
    return body + luhn_digit(body)


def order_number(code: str) -> str:
    return "TB" + code


async def receipt_number(session: AsyncSession, city_code: str, on: dt.date) -> str:
    return f"{city_code[:2]}{on:%y}0101{await _next(session) % 10_000_000_000:010d}"
