"""Calls to the providers' APIs: open a payment, ask about one, refund one, fetch a day's
statement. Each call's answer about an order comes back signed in the provider's notification
format and is verified by the provider's adapter before anything reads it."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import httpx
from tongban.cases.payment import config
from tongban.cases.payment.errors import ProviderUnavailable, UnknownProvider
from tongban.cases.payment.providers import Notice, Provider

TIMEOUT = 5.0


@dataclass(frozen=True)
class StatementLine:
    order_number: str
    transaction_id: str
    amount_fen: int
    kind: str           # paid | refunded


def adapter(name: str) -> Provider:
    cfg = config.load()
    if cfg.base_url is None:
        raise ProviderUnavailable("no payment provider is configured (CASES_PAYMENT_CONFIG)")
    found = cfg.adapters.get(name)
    if found is None:
        raise UnknownProvider(f"no payment provider {name[:20]!r} is configured")
    return found


async def _call(method: str, path: str, **kwargs: Any) -> httpx.Response:
    cfg = config.load()
    assert cfg.base_url is not None
    try:
        async with httpx.AsyncClient(base_url=cfg.base_url, timeout=TIMEOUT) as http:
            r = await http.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"{path.split('/')[1]}: {type(exc).__name__}") from exc
    if r.status_code >= 500:
        raise ProviderUnavailable(f"{path.split('/')[1]} answered {r.status_code}")
    return r


def _verified(provider: Provider, r: httpx.Response) -> Notice:
    return provider.verify({k: v for k, v in r.headers.items()}, r.content)


async def open_payment(provider_name: str, order_number: str, amount_fen: int, description: str,
                       notify_url: str) -> dict[str, Any]:
    """What the payer's app needs to pay (a code_url, an order string, a tn)."""
    adapter(provider_name)
    r = await _call("POST", f"/{provider_name}/orders", json={
        "out_trade_no": order_number, "amount_fen": amount_fen, "description": description[:100],
        "notify_url": notify_url})
    if r.status_code != 200:
        raise ProviderUnavailable(f"{provider_name} refused the order: {r.text[:200]}")
    return dict(r.json())


async def query(provider_name: str, order_number: str) -> Notice | None:
    """The provider's signed word on the order; None when it does not know it."""
    provider = adapter(provider_name)
    r = await _call("GET", f"/{provider_name}/orders/{order_number}")
    if r.status_code == 404:
        return None
    return _verified(provider, r)


async def refund(provider_name: str, order_number: str, refund_number: str, amount_fen: int) -> Notice:
    provider = adapter(provider_name)
    r = await _call("POST", f"/{provider_name}/refunds", json={
        "out_trade_no": order_number, "out_refund_no": refund_number, "amount_fen": amount_fen})
    return _verified(provider, r)


async def statement(provider_name: str, on_date: dt.date) -> list[StatementLine]:
    """The provider's statement (对账单) of a Beijing day: CSV, one line per payment or refund."""
    adapter(provider_name)
    r = await _call("GET", f"/{provider_name}/statements/{on_date.isoformat()}")
    if r.status_code != 200:
        raise ProviderUnavailable(f"{provider_name} has no statement for {on_date}: {r.status_code}")
    lines = []
    for row in csv.DictReader(io.StringIO(r.text)):
        lines.append(StatementLine(row["out_trade_no"].lstrip("`"), row["transaction_id"].lstrip("`"),
                                   int(row["amount_fen"].lstrip("`")), row["kind"].lstrip("`")))
    return lines
