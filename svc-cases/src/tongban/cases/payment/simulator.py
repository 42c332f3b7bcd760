"""The local payment provider: WeChat Pay, Alipay and UnionPay as one small server, for `make run`
and the tests (the real providers cannot be reached from here). Like the real ones it

- signs every notification and answer with its own keys, in each provider's own format
  (providers.sign_*), and encrypts WeChat Pay's resource with the merchant's APIv3 key;
- calls the merchant's notify_url after a payment, sometimes after a delay and sometimes twice
  (a resend carries a fresh signature, as the real ones' retries do), and retries until it gets a
  2xx;
- answers queries about an order and refund requests, signed;
- serves a day's statement (对账单) as CSV.

Sandbox-only routes (`/{provider}/orders/{no}/pay`, `/_sim/...`) stand in for the payer's app and
let a test plant a statement line. Keys and merchant ids are made once per data folder
(`ensure_keys`): the private file stays with the simulator; `providers.json` beside it is what
svc-cases is given (CASES_PAYMENT_CONFIG). Run: `uvicorn --factory tongban.cases.payment.simulator:create_app`
with SIM_KEY_DIR set (deploy/local/run.py does)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import logging
import os
import random
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, Field
from tongban.cases.payment import providers
from tongban.cases.payment.providers import BEIJING, sign_alipay, sign_unionpay, sign_wechat, yuan
from tongban.shared import clock

log = logging.getLogger("tongban.payment.simulator")
PRIVATE_FILE, PUBLIC_FILE = "provider-keys.json", "providers.json"
MERCHANTS = {"wechat": {"mchid": "1900000109", "appid": "wx8888888888888888"},
             "alipay": {"app_id": "2021000122600001", "seller_id": "2088102177846880"},
             "unionpay": {"mer_id": "777290058110048"}}


def _pem(key: rsa.RSAPrivateKey) -> tuple[str, str]:
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def ensure_keys(key_dir: Path, base_url: str, notify_base_url: str | None = None) -> Path:
    """The simulator's keys in `key_dir` (made once), and the public configuration svc-cases
    reads, written for `base_url` (where the simulator listens). Returns the public file."""
    key_dir.mkdir(parents=True, exist_ok=True)
    private_file = key_dir / PRIVATE_FILE
    if not private_file.exists():
        keys: dict[str, Any] = {}
        for name in providers.PROVIDERS:
            private, public = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
            keys[name] = {"private_key_pem": private, "public_key_pem": public, **MERCHANTS[name]}
        keys["wechat"] |= {"apiv3_key": secrets.token_hex(16), "serial": secrets.token_hex(20).upper()}
        keys["unionpay"]["cert_id"] = str(random.randint(10**10, 10**11))
        private_file.write_text(json.dumps(keys))
        private_file.chmod(0o600)
    keys = json.loads(private_file.read_text())
    public = {"base_url": base_url, **({"notify_base_url": notify_base_url} if notify_base_url else {})}
    for name, k in keys.items():
        public[name] = {f: v for f, v in k.items() if f != "private_key_pem"}
    public_file = key_dir / PUBLIC_FILE
    public_file.write_text(json.dumps(public, indent=1))
    return public_file


@dataclass
class SimOrder:
    provider: str
    out_trade_no: str
    amount_fen: int
    notify_url: str
    state: str = "NOTPAY"                 # NOTPAY | SUCCESS | REFUND
    transaction_id: str | None = None
    paid_at: dt.datetime | None = None
    paid_amount_fen: int | None = None
    refund_no: str | None = None
    refunded_at: dt.datetime | None = None


@dataclass
class Sim:
    keys: dict[str, Any]
    duplicate_rate: float
    max_delay: float
    orders: dict[tuple[str, str], SimOrder] = field(default_factory=dict)
    planted: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    tasks: set[asyncio.Task] = field(default_factory=set)

    def private(self, name: str) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.keys[name]["private_key_pem"].encode(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    def message(self, order: SimOrder, kind: str) -> tuple[dict[str, str], bytes]:
        """The provider's signed message about `order`: kind paid | unpaid | refunded."""
        k, p = self.keys[order.provider], order.provider
        amount = order.paid_amount_fen if order.paid_amount_fen is not None else order.amount_fen
        at = (order.refunded_at if kind == "refunded" else order.paid_at) or clock.now()
        if p == "wechat":
            resource: dict[str, Any] = {"mchid": k["mchid"], "appid": k["appid"], "out_trade_no": order.out_trade_no,
                                        "transaction_id": order.transaction_id,
                                        "success_time": at.astimezone(BEIJING).isoformat(timespec="seconds")}
            if kind == "refunded":
                resource |= {"out_refund_no": order.refund_no, "refund_id": "50" + order.out_trade_no[-20:],
                             "refund_status": "SUCCESS", "amount": {"total": amount, "refund": amount}}
                event = "REFUND.SUCCESS"
            else:
                resource |= {"trade_type": "NATIVE", "trade_state": "SUCCESS" if kind == "paid" else "NOTPAY",
                             "amount": {"total": amount, "payer_total": amount, "currency": "CNY"}}
                event = "TRANSACTION.SUCCESS" if kind == "paid" else "TRANSACTION.NOTPAY"
            return sign_wechat(self.private(p), k["apiv3_key"], k["serial"], event, resource)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        if p == "alipay":
            fields = {"app_id": k["app_id"], "seller_id": k["seller_id"], "out_trade_no": order.out_trade_no,
                      "trade_no": order.transaction_id or "", "total_amount": yuan(amount),
                      "trade_status": {"paid": "TRADE_SUCCESS", "unpaid": "WAIT_BUYER_PAY",
                                       "refunded": "TRADE_CLOSED"}[kind]}
            if kind != "unpaid":
                fields["gmt_payment"] = (order.paid_at or at).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
            if kind == "refunded":
                fields |= {"refund_fee": yuan(amount), "out_biz_no": order.refund_no or ""}
            return form, sign_alipay(self.private(p), fields)
        fields = {"merId": k["mer_id"], "orderId": order.out_trade_no, "txnType": "04" if kind == "refunded" else "01",
                  "txnSubType": "00" if kind == "refunded" else "01", "bizType": "000201", "accessType": "0",
                  "txnTime": at.astimezone(BEIJING).strftime("%Y%m%d%H%M%S"), "txnAmt": str(amount),
                  "queryId": order.transaction_id or "0", "respCode": "05" if kind == "unpaid" else "00",
                  "respMsg": "success" if kind != "unpaid" else "not paid"}
        return form, sign_unionpay(self.private(p), k["cert_id"], fields)

    def notify(self, order: SimOrder, kind: str, times: int, delay: float) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(order, kind, times, delay))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, order: SimOrder, kind: str, times: int, delay: float) -> None:
        await asyncio.sleep(delay)
        async with httpx.AsyncClient(timeout=5) as http:
            for copy in range(times):
                for attempt in range(6):      # like the real ones: retried until a 2xx, with backoff
                    headers, body = self.message(order, kind)   # each send freshly signed
                    try:
                        r = await http.post(order.notify_url, content=body, headers=headers)
                        status = r.status_code
                    except httpx.HTTPError as exc:
                        status = 0
                        log.warning("callback to %s failed: %s", order.notify_url, type(exc).__name__)
                    self.deliveries.append({"provider": order.provider, "out_trade_no": order.out_trade_no,
                                            "kind": kind, "copy": copy + 1, "attempt": attempt + 1, "status": status})
                    if 200 <= status < 300 or 400 <= status < 500:
                        break   # acknowledged, or refused for good (a 4xx is never retried by us)
                    await asyncio.sleep(0.3 * 2 ** attempt)


class OrderIn(BaseModel):
    out_trade_no: str = Field(min_length=1, max_length=32)
    amount_fen: int = Field(ge=1, le=10**10)
    description: str = Field(default="", max_length=200)
    notify_url: str = Field(min_length=1, max_length=500)


class PayIn(BaseModel):
    """The payer's app (sandbox): pay the order, and how the callback should behave."""

    amount_fen: int | None = Field(default=None, ge=1, le=10**10)   # a payer who pays a different amount
    duplicate: bool | None = None      # None: at the simulator's configured rate
    delay_seconds: float | None = Field(default=None, ge=0, le=30)
    callback: bool = True              # False: the callback is lost (the merchant must query)


class RefundIn(BaseModel):
    out_trade_no: str = Field(min_length=1, max_length=32)
    out_refund_no: str = Field(min_length=1, max_length=64)
    amount_fen: int = Field(ge=1, le=10**10)


class PlantIn(BaseModel):
    provider: str
    on_date: dt.date
    out_trade_no: str = Field(min_length=1, max_length=32)
    amount_fen: int = Field(ge=1, le=10**10)


def create_app(key_dir: Path | None = None) -> FastAPI:
    key_dir = key_dir or Path(os.environ["SIM_KEY_DIR"])
    sim = Sim(json.loads((key_dir / PRIVATE_FILE).read_text()),
              duplicate_rate=float(os.environ.get("SIM_DUPLICATE_RATE", "0.3")),
              max_delay=float(os.environ.get("SIM_MAX_DELAY_SECONDS", "1.0")))
    app = FastAPI(title="Local payment provider (WeChat Pay / Alipay / UnionPay simulator)")
    app.state.sim = sim

    def known(provider: str) -> None:
        if provider not in providers.PROVIDERS:
            raise HTTPException(404, f"no provider {provider[:20]!r}")

    def order_of(provider: str, no: str) -> SimOrder:
        known(provider)
        found = sim.orders.get((provider, no))
        if found is None:
            raise HTTPException(404, "ORDER_NOT_EXIST")
        return found

    def signed(order: SimOrder, kind: str) -> Response:
        headers, body = sim.message(order, kind)
        return Response(body, headers=headers)

    @app.get("/healthz")
    @app.get("/readyz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/{provider}/orders")
    async def create_order(provider: str, body: OrderIn) -> dict[str, str]:
        known(provider)
        order = sim.orders.setdefault((provider, body.out_trade_no), SimOrder(
            provider, body.out_trade_no, body.amount_fen, body.notify_url))
        if order.amount_fen != body.amount_fen:
            raise HTTPException(400, "ORDER_AMOUNT_CHANGED")
        order.notify_url = body.notify_url
        token = secrets.token_urlsafe(12)
        return {"wechat": {"code_url": f"weixin://wxpay/bizpayurl?pr={token}"},
                "alipay": {"qr_code": f"https://qr.alipay.com/{token}"},
                "unionpay": {"tn": str(random.randint(10**20, 10**21))}}[provider]

    @app.post("/{provider}/orders/{no}/pay")
    async def pay(provider: str, no: str, body: PayIn) -> dict[str, Any]:
        order = order_of(provider, no)
        if order.state == "NOTPAY":
            order.state, order.paid_at = "SUCCESS", clock.now()
            order.transaction_id = "42" + secrets.token_hex(13)[:26]
            order.paid_amount_fen = body.amount_fen
        duplicate = body.duplicate if body.duplicate is not None else random.random() < sim.duplicate_rate
        delay = body.delay_seconds if body.delay_seconds is not None else random.uniform(0, sim.max_delay)
        if body.callback:
            sim.notify(order, "paid", 2 if duplicate else 1, delay)
        return {"transaction_id": order.transaction_id, "callbacks": (2 if duplicate else 1) if body.callback else 0}

    @app.get("/{provider}/orders/{no}")
    async def query(provider: str, no: str) -> Response:
        order = order_of(provider, no)
        return signed(order, {"NOTPAY": "unpaid", "SUCCESS": "paid", "REFUND": "refunded"}[order.state])

    @app.post("/{provider}/refunds")
    async def refund(provider: str, body: RefundIn) -> Response:
        order = order_of(provider, body.out_trade_no)
        if order.state == "NOTPAY":
            raise HTTPException(400, "TRADE_NOT_PAID")
        if order.state == "SUCCESS":
            order.state, order.refund_no, order.refunded_at = "REFUND", body.out_refund_no, clock.now()
        return signed(order, "refunded")

    @app.get("/{provider}/statements/{on_date}")
    async def statement(provider: str, on_date: dt.date) -> Response:
        known(provider)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["out_trade_no", "transaction_id", "amount_fen", "kind", "time"])
        for o in sim.orders.values():
            if o.provider == provider and o.paid_at and o.paid_at.astimezone(BEIJING).date() == on_date:
                amount = o.paid_amount_fen if o.paid_amount_fen is not None else o.amount_fen
                writer.writerow([f"`{o.out_trade_no}", f"`{o.transaction_id}", f"`{amount}", "`paid",
                                 f"`{o.paid_at.astimezone(BEIJING):%Y-%m-%d %H:%M:%S}"])
        for p in sim.planted:
            if p["provider"] == provider and p["on_date"] == on_date:
                writer.writerow([f"`{p['out_trade_no']}", f"`42{secrets.token_hex(8)}", f"`{p['amount_fen']}",
                                 "`paid", f"`{on_date} 12:00:00"])
        return Response(out.getvalue(), media_type="text/csv")

    @app.post("/_sim/statement-lines")
    async def plant(body: PlantIn) -> dict[str, str]:
        known(body.provider)
        sim.planted.append(body.model_dump())
        return {"planted": body.out_trade_no}

    @app.get("/_sim/deliveries")
    async def deliveries() -> list[dict[str, Any]]:
        return sim.deliveries

    return app
