"""Unified payment inside svc-cases: the three providers' formats verify (and refuse what was
forged, altered or stale); 先缴后审 holds acceptance until a verified payment; a bundle (一件事)
gets one order whose total is its items' fees, split per department; the 非税缴款码 checks."""

import datetime as dt
import json
import urllib.parse
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tongban.cases.catalog_copy import service as catalog_copy
from tongban.cases.main import SERVICE
from tongban.cases.payment import codes, providers, service
from tongban.cases.payment.errors import CallbackRefused
from tongban.shared import clock
from tongban.shared.contracts.catalog import BUNDLE_PUBLISHED, BundlePublishedV1, ImplementationPublishedV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.testing.plugin import running_service, wait_for

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
APIV3 = "0123456789abcdef0123456789abcdef"
WECHAT = providers.WeChatPay("1900000109", APIV3, PEM, "SERIAL1")
RESOURCE = {"mchid": "1900000109", "appid": "wx1", "out_trade_no": "TB1", "transaction_id": "42001",
            "trade_state": "SUCCESS", "success_time": "2026-12-06T10:00:00+08:00",
            "amount": {"total": 8000, "payer_total": 8000, "currency": "CNY"}}


def refused(fn, *args) -> str:
    with pytest.raises(CallbackRefused) as exc:
        fn(*args)
    return exc.value.reason


def test_each_provider_verifies_its_own_format_and_refuses_forgeries():
    headers, body = providers.sign_wechat(KEY, APIV3, "SERIAL1", "TRANSACTION.SUCCESS", RESOURCE)
    notice = WECHAT.verify(headers, body)
    assert (notice.kind, notice.order_number, notice.amount_fen, notice.merchant) == ("paid", "TB1", 8000, "1900000109")
    assert refused(WECHAT.verify, headers, body.replace(b"TRANSACTION", b"TRANSACTIOM")) == "bad_signature"
    assert refused(WECHAT.verify, *providers.sign_wechat(OTHER, APIV3, "SERIAL1", "TRANSACTION.SUCCESS",
                                                         RESOURCE)) == "bad_signature"
    # Signed by the platform but encrypted with another APIv3 key: the resource does not decrypt.
    assert refused(WECHAT.verify, *providers.sign_wechat(KEY, "f" * 32, "SERIAL1", "TRANSACTION.SUCCESS",
                                                         RESOURCE)) == "bad_signature"
    with clock.pinned(clock.now() - dt.timedelta(minutes=10)):
        old = providers.sign_wechat(KEY, APIV3, "SERIAL1", "TRANSACTION.SUCCESS", RESOURCE)
    assert refused(WECHAT.verify, *old) == "stale"

    alipay = providers.Alipay("2021001", "2088001", PEM)
    fields = {"app_id": "2021001", "seller_id": "2088001", "out_trade_no": "TB2", "trade_no": "2026",
              "total_amount": "12.50", "trade_status": "TRADE_SUCCESS", "gmt_payment": "2026-12-06 10:00:00"}
    body = providers.sign_alipay(KEY, fields)
    assert alipay.verify({}, body).amount_fen == 1250
    tampered = body.replace(b"total_amount=12.50", b"total_amount=0.01")
    assert refused(alipay.verify, {}, tampered) == "bad_signature"
    assert refused(alipay.verify, {}, providers.sign_alipay(OTHER, fields)) == "bad_signature"
    assert refused(alipay.verify, {}, b"%%%") == "malformed"

    unionpay = providers.UnionPay("777290058110048", "6900", PEM)
    fields = {"merId": "777290058110048", "orderId": "TB3", "txnType": "01", "txnAmt": "300", "queryId": "Q1",
              "respCode": "00", "txnTime": "20261206100000"}
    body = providers.sign_unionpay(KEY, "6900", fields)
    assert unionpay.verify({}, body).amount_fen == 300
    form = dict(urllib.parse.parse_qsl(body.decode()))
    assert refused(unionpay.verify, {}, urllib.parse.urlencode({**form, "txnAmt": "1"}).encode()) == "bad_signature"


def test_the_payment_code_carries_a_check_digit():
    body = "4420002612060000042"
    code = body + codes.luhn_digit(body)
    assert codes.valid_payment_code(code)
    assert not codes.valid_payment_code(code[:-1] + str((int(code[-1]) + 1) % 10))
    assert not codes.valid_payment_code(code[:-1])


async def _implementation(client, basic_code: str, department: str, amount: str) -> None:
    data = ImplementationPublishedV1(
        implementation_id=uuid.uuid4(), code=department + "4" + basic_code, item_id=uuid.uuid4(),
        basic_code=basic_code, city_code="442000", version=1,
        record={"implementing_body_credit_code": department,
                "fees": [{"name": "工本费", "amount": amount, "basis": "（测试）"}]})
    async with client.app.state.sessionmaker() as session, session.begin():
        await catalog_copy.apply_implementation_published(session, data)


async def test_pay_first_waits_for_a_verified_payment_and_a_bundle_pays_once(infra, token_issuer, tokens, kit,
                                                                             clean_nats):
    single, birth, hukou = "442020000931", "442020000932", "442020000933"
    async with running_service(SERVICE, infra, token_issuer) as client:
        for code, dept, amount in ((single, kit.DEPT, "50.00"), (birth, kit.DEPT, "10.00"),
                                   (hukou, kit.OTHER_DEPT, "20.50")):
            await kit.publish_item(client, code, department=dept)
            await _implementation(client, code, dept, amount)
        r = await client.put(f"/api/v1/cases/payment-rules/{single}", headers=tokens.admin(),
                             json={"mode": "pay_first"})
        assert r.status_code == 200 and r.json()["mode"] == "pay_first"

        r = await client.post("/api/v1/cases/cases", json={"basic_code": single, "form_data": {}},
                              headers=tokens.citizen())
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]

        async def order():
            r = await client.get(f"/api/v1/cases/cases/{case_id}/payment", headers=tokens.citizen())
            return r.json() if r.status_code == 200 else None

        found = await wait_for(order)
        assert found["amount_fen"] == 5000 and found["mode"] == "pay_first"
        r = await client.post(f"/api/v1/cases/cases/{case_id}/accept", json={}, headers=tokens.clerk())
        assert r.status_code == 409 and r.json()["code"] == "payment_outstanding"
        # Someone else's case: its order is not shown.
        r = await client.get(f"/api/v1/cases/cases/{case_id}/payment", headers=tokens.citizen(kit.OTHER_ADULT))
        assert r.status_code == 404

        # A verified notice settles it; the same notice again (another signature) changes nothing.
        resource = {**RESOURCE, "out_trade_no": found["order_number"],
                    "amount": {"total": 5000, "payer_total": 5000, "currency": "CNY"}}
        outcomes = []
        for _ in range(2):
            notice = WECHAT.verify(*providers.sign_wechat(KEY, APIV3, "SERIAL1", "TRANSACTION.SUCCESS", resource))
            async with client.app.state.sessionmaker() as session, session.begin():
                outcomes.append(await service.apply_notice(session, notice, "callback", "1900000109"))
        assert outcomes == ["applied", "duplicate"]
        paid = await order()
        assert paid["state"] == "paid" and paid["receipt_number"]
        r = await client.post(f"/api/v1/cases/cases/{case_id}/accept", json={}, headers=tokens.clerk())
        assert r.status_code == 200, r.text

        # Money that arrives for a withdrawn case goes back by itself.
        r = await client.post("/api/v1/cases/cases", json={"basic_code": single, "form_data": {}},
                              headers=tokens.citizen() | {"Idempotency-Key": "late-1"})
        late_id = r.json()["id"]

        async def late_order(state):
            r = await client.get(f"/api/v1/cases/cases/{late_id}/payment", headers=tokens.citizen())
            return r.json() if r.status_code == 200 and r.json()["state"] == state else None

        late = await wait_for(lambda: late_order("unpaid"))
        r = await client.post(f"/api/v1/cases/cases/{late_id}/withdraw", json={}, headers=tokens.citizen())
        assert r.status_code == 200, r.text
        await wait_for(lambda: late_order("cancelled"))
        resource = {**resource, "out_trade_no": late["order_number"], "transaction_id": "42002"}
        notice = WECHAT.verify(*providers.sign_wechat(KEY, APIV3, "SERIAL1", "TRANSACTION.SUCCESS", resource))
        async with client.app.state.sessionmaker() as session, session.begin():
            assert await service.apply_notice(session, notice, "callback", "1900000109") == "applied"
        owed = await late_order("refund_pending")
        assert owed and owed["refund_reason"] == "paid after the case was withdrawn"

        # A bundle: one order, one total, a line per department.
        nc = await bus.connect(infra.nats.url, "test-publisher")
        await bus.ensure_stream(nc.jetstream(), "catalog")
        data = BundlePublishedV1(bundle_id=uuid.uuid4(), code="YJS-442000-PAY", name="出生一件事（缴费）", version=1,
                                 item_codes=[birth, hukou], city_code="442000")
        await nc.jetstream().publish(BUNDLE_PUBLISHED, make_event("catalog", BUNDLE_PUBLISHED, data)
                                     .model_dump_json().encode())
        await nc.close()

        async def bundle():
            r = await client.post("/api/v1/cases/bundle-cases", json={"bundle_code": "YJS-442000-PAY",
                                                                      "form_data": {}},
                                  headers=tokens.citizen() | {"Idempotency-Key": "pay-bundle"})
            return r.json() if r.status_code == 201 else None

        parent = await wait_for(bundle)
        children = [c["id"] for c in parent["children"]]

        async def bundle_order():
            answers = [await client.get(f"/api/v1/cases/cases/{c}/payment", headers=tokens.citizen())
                       for c in children]
            return [a.json() for a in answers] if all(a.status_code == 200 for a in answers) else None

        first, second = await wait_for(bundle_order)
        assert first["id"] == second["id"] and first["case_id"] == parent["id"]
        assert first["amount_fen"] == 3050 and first["case_number"] == parent["case_number"]
        assert sorted((line["department"], line["amount_fen"]) for line in first["lines"]) == sorted(
            [(kit.DEPT, 1000), (kit.OTHER_DEPT, 2050)])
        assert json.dumps(first["lines"], ensure_ascii=False).count("工本费") == 2
