"""Unified payment (统一支付) end to end through the gateway (issue 21), every platform process real
(gateway, svc-catalog, svc-cases, svc-credentials under uvicorn) and the local payment provider
(tongban.cases.payment.simulator) as the one stand-in for what is outside the platform.

A resident applies for a fee-bearing item (先审后缴, 80 yuan): the approval is held until she
pays; she pays by WeChat Pay, the provider calls back twice through the gateway and the case moves
once; the licence is issued, the e-receipt number is on the case. Forged, altered, unknown and
replayed callbacks are refused and change nothing. A second case paid by Alipay loses its callback
(the follower asks the provider), is refused and refunded; a third, paid by UnionPay, is withdrawn
and refunded. The day's reconciliation finds exactly the one line the test planted."""

import asyncio
import datetime as dt
import json
import urllib.parse

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tongban.cases.main import SERVICE as CASES
from tongban.cases.payment import codes, simulator
from tongban.cases.payment.providers import sign_alipay, sign_wechat
from tongban.catalog.main import SERVICE as CATALOG
from tongban.credentials.main import SERVICE as CREDENTIALS
from tongban.gateway import seed as gateway_seed
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.shared import clock
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.localinfra import free_port
from tongban.shared.testing.plugin import platform_processes, wait_for

DEPT = "11442000MB0000002B"                   # the seeded approver's department
TYPE_CODE = DEPT + "007"
BASIC = "442020000917"
ITEM = {"basic_code": BASIC, "name": "犬只登记证核发（缴费测试）", "exercise_level": 4, "case_type": "promised",
        "statutory_limit": 20, "statutory_limit_unit": "working_day", "promised_limit": 10,
        "promised_limit_unit": "working_day", "implementing_body": "中山市市场监督管理局",
        "implementing_body_credit_code": DEPT, "result_licence_type": TYPE_CODE}
FEES = [{"name": "犬只登记费", "amount": "80.00", "basis": "《中山市养犬管理规定》（测试）"}]
CALLBACK = "/api/v1/cases/payment/callbacks/"


@pytest.fixture
async def platform(infra, clean_nats, tmp_path, monkeypatch):
    keys = {"CREDENTIALS_KEY_DIR": str(tmp_path / "keys"), "CREDENTIALS_KEY_PASSPHRASE": "fee-passphrase"}
    for k, v in keys.items():
        monkeypatch.setenv(k, v)
    definitions = [GATEWAY, CATALOG, CASES, CREDENTIALS]
    urls = {d.name: infra.fresh_database(d) for d in definitions}
    engine = make_engine(urls["gateway"], 2)
    await gateway_seed.seed(make_sessionmaker(engine))
    await engine.dispose()
    sim_url = f"http://127.0.0.1:{free_port()}"
    config_file = simulator.ensure_keys(tmp_path / "pay", sim_url)
    server = uvicorn.Server(uvicorn.Config(simulator.create_app(tmp_path / "pay"), host="127.0.0.1",
                                           port=int(sim_url.rsplit(":", 1)[1]), log_level="warning"))
    serving = asyncio.create_task(server.serve())

    def extra(name: str, at: dict[str, str]) -> dict[str, str]:
        if name == "cases":
            return {"CASES_PAYMENT_CONFIG": str(config_file), "CASES_PAYMENT_NOTIFY_BASE_URL": at["gateway"],
                    "CASES_PAYMENT_QUERY_AFTER_SECONDS": "1", "CASES_PAYMENT_FOLLOWER_SECONDS": "0.5"}
        if name == "gateway":
            # This story polls through the gateway as a few callers; the rate limits have their own
            # tests (gateway/tests/test_protection.py) and are lifted here.
            return {"GATEWAY_RATE_LIMIT_PER_SECOND": "100000", "GATEWAY_RATE_LIMIT_BURST": "100000"}
        return keys if name == "credentials" else {}

    try:
        async with platform_processes(infra, definitions, urls, tmp_path, extra=extra) as at, \
                httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=at["gateway"], timeout=15) as gw, \
                httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=sim_url, timeout=15) as sim:
            yield gw, sim, json.loads((tmp_path / "pay" / simulator.PRIVATE_FILE).read_text())
    finally:
        server.should_exit = True
        await serving


async def login(gw, username, password):
    r = await gw.post("/auth/token", data={"grant_type": "password", "username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def act(gw, headers, case_id, action, **body):
    r = await gw.post(f"/api/v1/cases/cases/{case_id}/{action}", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def timeline(gw, headers, case_id):
    r = await gw.get(f"/api/v1/cases/cases/{case_id}/timeline", params={"limit": 200}, headers=headers)
    return r.json()["items"]


async def test_a_fee_is_paid_once_refunded_when_refused_and_reconciled(platform):
    gw, sim, sim_keys = platform
    admin = await login(gw, "admin", "Admin#2026")
    citizen = await login(gw, "citizen", "Citizen#2026")
    clerk = await login(gw, "clerk", "Clerk#2026")
    approver = await login(gw, "approver", "Approver#2026")

    r = await gw.post("/api/v1/credentials/licence-types", headers=admin, json={
        "code": TYPE_CODE, "name": "犬只登记证", "issuer_code": DEPT, "issuer_name": "中山市市场监督管理局",
        "holder_type": "111", "validity": "years", "validity_years": 1,
        "fields": [{"name": "dog_name", "type": "string"}]})
    assert r.status_code == 201, r.text
    r = await gw.post("/api/v1/catalog/items", json=ITEM, headers={**admin, "Idempotency-Key": "fee-item"})
    assert r.status_code == 201, r.text
    r = await gw.post(f"/api/v1/catalog/items/{r.json()['id']}/implementations",
                      headers={**admin, "Idempotency-Key": "fee-impl"},
                      json={"code": DEPT + "4" + BASIC, "city_code": "442000", "implementing_body": "中山市市场监督管理局",
                            "promised_limit": 10, "promised_limit_unit": "working_day", "statutory_limit": 20,
                            "statutory_limit_unit": "working_day", "handling_forms": ["window", "mobile"],
                            "visits": 0, "online_depth": 4, "fees": FEES, "flags": {"fully_online": True}})
    assert r.status_code == 201, r.text
    r = await gw.put(f"/api/v1/cases/payment-rules/{BASIC}", headers=admin, json={"mode": "review_first"})
    assert r.status_code == 200, r.text

    async def apply(key):
        r = await gw.post("/api/v1/cases/cases", json={"basic_code": BASIC, "form_data": {"dog_name": "旺财"}},
                          headers={**citizen, "Idempotency-Key": key})
        return r.json()["id"] if r.status_code == 201 else None   # the implementation's copy may trail

    case_a = await wait_for(lambda: apply("fee-a"), timeout=20)

    async def order_of(case_id):
        r = await gw.get(f"/api/v1/cases/cases/{case_id}/payment", headers=citizen)
        return r.json() if r.status_code == 200 else None

    order = await wait_for(lambda: order_of(case_a), timeout=15)
    assert order["amount_fen"] == 8000 and order["state"] == "unpaid" and order["mode"] == "review_first"
    assert codes.valid_payment_code(order["payment_code"]) and order["payment_code"].startswith("442000")
    assert order["lines"] == [{"department": DEPT, "basic_code": BASIC, "name": "犬只登记费", "amount_fen": 8000}]

    # 先审后缴: approved before it is paid, the licence waits.
    await act(gw, clerk, case_a, "accept")
    await act(gw, approver, case_a, "review")
    assert (await act(gw, approver, case_a, "approve"))["state"] == "approved"
    assert "licence_held" in [e["action"] for e in await timeline(gw, citizen, case_a)]

    r = await gw.post(f"/api/v1/cases/cases/{case_a}/payment", json={"provider": "wechat"},
                      headers={**citizen, "Idempotency-Key": "pay-a"})
    assert r.status_code == 200 and r.json()["pay"]["code_url"].startswith("weixin://"), r.text
    number = order["order_number"]
    # The payer pays; the provider calls back twice (each freshly signed, as real retries are).
    r = await sim.post(f"/wechat/orders/{number}/pay", json={"duplicate": True, "delay_seconds": 0})
    assert r.json()["callbacks"] == 2

    async def both_callbacks():
        found = await order_of(case_a)
        return found if len(found["notifications"]) == 2 else None

    paid = await wait_for(both_callbacks, timeout=15)
    assert paid["state"] == "paid" and paid["provider"] == "wechat"
    assert sorted(n["outcome"] for n in paid["notifications"]) == ["applied", "duplicate"]
    receipt = paid["receipt_number"]
    assert receipt and len(receipt) == 18

    async def completed():
        case = (await gw.get(f"/api/v1/cases/cases/{case_a}", headers=citizen)).json()
        return case if case["state"] == "completed" else None

    case = await wait_for(completed, timeout=20)      # the held approval went out; the licence came back
    assert case["licence_identifier"]
    entries = await timeline(gw, citizen, case_a)
    received = [e for e in entries if e["action"] == "payment_received"]
    assert len(received) == 1 and received[0]["detail"]["receipt_number"] == receipt   # moved once
    assert "licence_released" in [e["action"] for e in entries]

    # Bad callbacks, anonymous through the gateway: refused with problem+json, nothing changes.
    wk = sim_keys["wechat"]
    real_key = serialization.load_pem_private_key(wk["private_key_pem"].encode(), None)
    resource = {"mchid": wk["mchid"], "appid": wk["appid"], "out_trade_no": number, "transaction_id": "4200000001",
                "trade_state": "SUCCESS", "success_time": clock.now().isoformat(),
                "amount": {"total": 8000, "payer_total": 8000, "currency": "CNY"}}
    forged = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    async def send(key, res, pinned=None):
        if pinned is not None:
            with clock.pinned(pinned):
                headers, body = sign_wechat(key, wk["apiv3_key"], wk["serial"], "TRANSACTION.SUCCESS", res)
        else:
            headers, body = sign_wechat(key, wk["apiv3_key"], wk["serial"], "TRANSACTION.SUCCESS", res)
        return headers, body, await gw.post(CALLBACK + "wechat", content=body, headers=headers)

    cases = [(forged, resource, None, 401, "bad_signature"),
             (real_key, {**resource, "amount": {"total": 1, "payer_total": 1, "currency": "CNY"}}, None, 422,
              "wrong_amount"),
             (real_key, {**resource, "out_trade_no": "TB00000000000000000000"}, None, 404, "unknown_order"),
             (real_key, {**resource, "mchid": "1999999999"}, None, 403, "wrong_merchant"),
             (real_key, resource, clock.now() - dt.timedelta(minutes=20), 400, "stale")]
    for key, res, pinned, status, reason in cases:
        _, _, r = await send(key, res, pinned)
        assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json"), r.text
        assert r.json()["reason"] == reason
    headers, body, r = await send(real_key, resource)      # a late resend: acknowledged, nothing changes
    assert r.status_code == 204
    r = await gw.post(CALLBACK + "wechat", content=body, headers=headers)   # the very same message again
    assert r.status_code == 409 and r.json()["reason"] == "replayed"
    after = await order_of(case_a)
    assert after["state"] == "paid" and after["receipt_number"] == receipt
    assert [n["outcome"] for n in after["notifications"]].count("applied") == 1
    assert len([e for e in await timeline(gw, citizen, case_a) if e["action"] == "payment_received"]) == 1

    # Case B, Alipay: the callback is lost, the follower asks the provider; refused, refunded.
    case_b = await wait_for(lambda: apply("fee-b"), timeout=10)
    order_b = await wait_for(lambda: order_of(case_b), timeout=15)
    r = await gw.post(f"/api/v1/cases/cases/{case_b}/payment", json={"provider": "alipay"},
                      headers={**citizen, "Idempotency-Key": "pay-b"})
    assert r.status_code == 200, r.text
    await sim.post(f"/alipay/orders/{order_b['order_number']}/pay", json={"callback": False})

    async def state_of(case_id, state):
        found = await order_of(case_id)
        return found if found["state"] == state else None

    paid_b = await wait_for(lambda: state_of(case_b, "paid"), timeout=20)
    assert [n["via"] for n in paid_b["notifications"]] == ["query"]
    await act(gw, clerk, case_b, "refuse", reason="材料与事实不符")
    refunded = await wait_for(lambda: state_of(case_b, "refunded"), timeout=20)
    assert refunded["refund_reason"] == "case refused"
    # A forged Alipay notification for it (RSA2 with another key) changes nothing.
    ak = sim_keys["alipay"]
    body = sign_alipay(forged, {"app_id": ak["app_id"], "seller_id": ak["seller_id"], "out_trade_no":
                                order_b["order_number"], "trade_no": "2026x", "total_amount": "80.00",
                                "trade_status": "TRADE_SUCCESS"})
    r = await gw.post(CALLBACK + "alipay", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 401 and r.json()["reason"] == "bad_signature"
    assert dict(urllib.parse.parse_qsl(body.decode()))["sign_type"] == "RSA2"

    # Case C, UnionPay: paid, then withdrawn: refunded by itself.
    case_c = await wait_for(lambda: apply("fee-c"), timeout=10)
    order_c = await wait_for(lambda: order_of(case_c), timeout=15)
    r = await gw.post(f"/api/v1/cases/cases/{case_c}/payment", json={"provider": "unionpay"},
                      headers={**citizen, "Idempotency-Key": "pay-c"})
    assert r.status_code == 200, r.text
    await sim.post(f"/unionpay/orders/{order_c['order_number']}/pay", json={"duplicate": False, "delay_seconds": 0})
    await wait_for(lambda: state_of(case_c, "paid"), timeout=15)
    await act(gw, citizen, case_c, "withdraw")
    assert (await wait_for(lambda: state_of(case_c, "refunded"), timeout=20))["refund_reason"] == "case withdrawn"

    # 对账: the provider's statement carries one line nobody here knows (planted); finance staff see exactly it.
    today = clock.today()
    await sim.post("/_sim/statement-lines", json={"provider": "wechat", "on_date": today.isoformat(),
                                                  "out_trade_no": "TB44200099999999999990", "amount_fen": 2500})
    r = await gw.post("/api/v1/cases/payment/reconciliations", json={"provider": "wechat", "on_date": today.isoformat()},
                      headers={**admin, "Idempotency-Key": "recon-1"})
    assert r.status_code == 201, r.text
    recon = r.json()
    assert recon["matched"] == 1
    assert [(m["kind"], m["order_number"]) for m in recon["mismatches"]] == [("unknown_order",
                                                                              "TB44200099999999999990")]
    r = await gw.get("/api/v1/cases/payment/reconciliations", headers=admin)
    assert r.status_code == 200 and r.json()["total"] >= 1
    r = await gw.get("/api/v1/cases/payment/reconciliations", headers=citizen)
    assert r.status_code == 403

    # She was told (the gateway's notifier, through the payment events svc-cases published): each
    # order's amount and 非税缴款码, case A's receipt number, and both refunds.
    async def told(kind, count):
        r = await gw.get("/api/v1/gateway/notify/inbox", params={"limit": 200}, headers=citizen)
        found = [m for m in r.json()["items"] if m["kind"] == kind]
        return found if len(found) >= count else None

    due = await wait_for(lambda: told("payment.due", 3), timeout=20)
    assert any(order["payment_code"] in m["body"] and "80.00元" in m["body"] for m in due)
    received_a = await wait_for(lambda: told("payment.received", 2), timeout=20)
    assert any(receipt in m["body"] for m in received_a)
    await wait_for(lambda: told("payment.refunded", 2), timeout=20)
