"""A forwarded case's exchange in its steps (forwarding.router._open): svc-cases is called with
no transaction of ours open, the nonce already claimed for good; a crash between svc-cases'
answer and our record leaves nothing of ours half-written, and the partner's resend finds the
same case; concurrent messages for one case get one record and one answer. And the outbound
wire's copy of a partner (the edge's PartnerDirectory) is dropped once another process changes
the registry."""

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text

from tongban.interop import signing
from tongban.interop.delivery.tokens import PartnerTokens
from tongban.interop.exchange.wire import INACTIVE, Wire
from tongban.interop.forwarding import service as forwarding
from tongban.interop.partner.repository import VERSION
from tongban.shared.db import make_engine, make_sessionmaker
from sqlalchemy import select

pytestmark = pytest.mark.usefixtures("clean_nats")
PUBLIC = "http://zs.test"
ZHONGSHAN, SHENZHEN = "442000", "440300"
CASES = "/api/v1/interop/exchange/cases"
ITEM = "440300000100"
ID_NUMBER = "11010519491231002X"


def partner_body(city, **extra):
    return {"region_code": city.region, "name": "深圳市", "base_url": "http://sz.test",
            "services": ["discovery", "case.forward"], "items": [ITEM], "keys": [city.jwk()], **extra}


def forwarded(case_ref=None):
    return {"case_ref": str(case_ref or uuid.uuid4()), "case_number": f"440300X{uuid.uuid4().hex[:12]}",
            "item_code": ITEM, "applicant": {"id_number": ID_NUMBER, "name": "张三"}, "form": {"reason": "迁入"}}


async def count(app, sql, **params):
    async with app.state.sessionmaker() as s:
        return (await s.execute(text(sql), params)).scalar_one()


async def test_svc_cases_is_called_with_the_nonce_claimed_and_no_transaction_open(
        infra, token_issuer, admin, kit, monkeypatch):
    sz = kit.PartnerCity(SHENZHEN, token_issuer)
    async with kit.cases_service(infra, token_issuer, ZHONGSHAN, items=(ITEM,)) as cases, \
            kit.interop(infra, token_issuer, cases_url=cases.url) as zs:
        assert (await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)).status_code == 201
        headers, raw, signed = sz.request("POST", PUBLIC + CASES, forwarded())
        nonce = signing.verify_request("POST", PUBLIC + CASES, headers, raw,
                                       {sz.kid: sz.key.public_key()}.get).nonce
        seen = {}
        real = forwarding.cases_client.open_forwarded_case

        async def watched(http, message_id, body):
            database = zs.app.state.runtime.engine.url.database
            async with zs.app.state.sessionmaker() as s:
                seen["nonce"] = (await s.execute(text("SELECT count(*) FROM interop.nonce WHERE nonce = :n"),
                                                 {"n": nonce})).scalar_one()
                seen["in_transaction"] = (await s.execute(text(
                    "SELECT string_agg(query, ' | ') FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid() "
                    "AND state LIKE 'idle in transaction%' AND (query LIKE '%nonce%' OR query LIKE '%incoming_case%' "
                    "OR query LIKE '%idempotency_key%')"), {"db": database})).scalar_one()
            # The same signed request replayed while this one is in flight: refused at once.
            seen["replay"] = await zs.post(CASES, content=raw, headers=headers)
            return await real(http, message_id, body)

        monkeypatch.setattr(forwarding.cases_client, "open_forwarded_case", watched)
        first = await zs.post(CASES, content=raw, headers=headers)
        assert first.status_code == 202, first.text
        assert seen["nonce"] == 1  # committed before svc-cases was called
        # No transaction of the exchange's held open across the call (its last statement would be one of these).
        assert seen["in_transaction"] is None, seen["in_transaction"]
        assert seen["replay"].status_code == 409 and seen["replay"].json()["code"] == "nonce_replayed"
        assert await count(zs.app, "SELECT count(*) FROM interop.incoming_case") == 1
        # Both are in the log: the replay refused, the message answered.
        outcomes = [e["outcome"] for e in (await zs.get(
            f"/api/v1/interop/ledger/messages/{headers[signing.MESSAGE_ID]}/evidence", headers=admin)).json()["entries"]]
        assert sorted(outcomes) == ["accepted", "refused"]


async def test_a_crash_after_svc_cases_opened_the_case_leaves_nothing_half_written_and_the_resend_finds_it(
        infra, token_issuer, admin, kit, monkeypatch):
    sz = kit.PartnerCity(SHENZHEN, token_issuer)
    async with kit.cases_service(infra, token_issuer, ZHONGSHAN, items=(ITEM,)) as cases, \
            kit.interop(infra, token_issuer, cases_url=cases.url) as zs:
        assert (await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)).status_code == 201
        message_id, case = str(uuid.uuid4()), forwarded()
        opened = []

        async def crash(session, inbound, opening, found):
            opened.append(found)
            await session.execute(text("SELECT 1"))  # the record's transaction has begun
            raise RuntimeError("the process died here")

        with monkeypatch.context() as m:
            m.setattr(forwarding, "record_opened", crash)
            headers, raw, _ = sz.request("POST", PUBLIC + CASES, case, message_id=message_id)
            died = await zs.post(CASES, content=raw, headers=headers)
        assert died.status_code == 500  # the platform's edge answers for a request that died
        assert len(opened) == 1 and opened[0].new  # svc-cases opened the case and committed it
        app = zs.app
        assert await count(app, "SELECT count(*) FROM interop.incoming_case") == 0
        assert await count(app, "SELECT count(*) FROM interop.idempotency_key WHERE key = :k", k=message_id) == 0
        assert await count(app, "SELECT count(*) FROM interop.audit_event WHERE action = 'incoming_case.received'") == 0
        assert await count(app, "SELECT count(*) FROM interop.outbox WHERE subject = 'interop.incoming_case.received'") == 0
        assert await count(app, "SELECT count(*) FROM interop.nonce") == 1  # the signature stays used

        # The partner resends (same message id, new nonce and signature): svc-cases finds the same case.
        headers, raw, _ = sz.request("POST", PUBLIC + CASES, case, message_id=message_id)
        resent = await zs.post(CASES, content=raw, headers=headers)
        assert resent.status_code == 202, resent.text
        assert resent.json()["case_number"] == opened[0].case_number
        assert await count(app, "SELECT count(*) FROM interop.incoming_case WHERE local_case_id = :c",
                           c=uuid.UUID(opened[0].id)) == 1
        # ... and a resend after that is the stored answer.
        headers, raw, _ = sz.request("POST", PUBLIC + CASES, case, message_id=message_id)
        again = await zs.post(CASES, content=raw, headers=headers)
        assert again.json() == resent.json() and again.headers["idempotent-replayed"] == "true"
        # The message id reused for another case is refused as such (svc-cases holds the first).
        headers, raw, _ = sz.request("POST", PUBLIC + CASES, forwarded(), message_id=message_id)
        reused = await zs.post(CASES, content=raw, headers=headers)
        assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused", reused.text
        assert await count(app, "SELECT count(*) FROM interop.incoming_case") == 1


async def test_concurrent_messages_for_one_case_get_one_record_and_one_answer(infra, token_issuer, admin, kit):
    sz = kit.PartnerCity(SHENZHEN, token_issuer)
    async with kit.cases_service(infra, token_issuer, ZHONGSHAN, items=(ITEM,)) as cases, \
            kit.interop(infra, token_issuer, cases_url=cases.url) as zs:
        assert (await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)).status_code == 201

        async def send(case, message_id=None):
            headers, raw, _ = sz.request("POST", PUBLIC + CASES, case, message_id=message_id)
            return await zs.post(CASES, content=raw, headers=headers)

        # One message id sent four times at once (a partner's retries racing), and one case sent
        # under four message ids at once (a partner resending with new ids).
        twin_id, twin_case, one_case = str(uuid.uuid4()), forwarded(), forwarded()
        answers = await asyncio.gather(*(send(twin_case, twin_id) for _ in range(4)),
                                       *(send(one_case) for _ in range(4)))
        assert [a.status_code for a in answers] == [202] * 8, [a.text for a in answers]
        assert len({a.json()["case_number"] for a in answers[:4]}) == 1
        assert len({a.json()["case_number"] for a in answers[4:]}) == 1
        for case in (twin_case, one_case):
            assert await count(zs.app, "SELECT count(*) FROM interop.incoming_case WHERE partner_case_ref = :r",
                               r=case["case_ref"]) == 1
        assert await count(zs.app, "SELECT count(*) FROM interop.audit_event "
                                   "WHERE action = 'incoming_case.received'") == 2


async def test_the_wires_copy_of_a_partner_never_outlives_a_change_of_the_registry(infra, token_issuer, admin, kit):
    """The outbound wire signs for the directory's copy of a partner only at the registry version
    the caller read (the deliverer's claim); a change committed by another process is read again."""
    sz = kit.PartnerCity(SHENZHEN, token_issuer)
    async with kit.interop(infra, token_issuer) as zs:
        assert (await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)).status_code == 201
        app, directory = zs.app, zs.app.state.partners
        requested = []

        def partner(request: httpx.Request) -> httpx.Response:
            requested.append(str(request.url))
            return httpx.Response(503)

        async def version():
            async with app.state.reads() as s:
                return (await s.execute(select(VERSION))).scalar_one()

        async def another_process(sql):
            engine = make_engine(app.state.settings.database_url, 1)
            try:
                async with make_sessionmaker(engine)() as s, s.begin():
                    await s.execute(text(sql))
            finally:
                await engine.dispose()

        async with httpx.AsyncClient(transport=httpx.MockTransport(partner)) as http:
            wire = Wire(app.state.reads, lambda: app.state.keyring, http, PartnerTokens(http, {}), directory=directory)
            v1 = await version()
            await wire.send(SHENZHEN, "POST", "/x", b"{}", str(uuid.uuid4()), version=v1)
            copy = directory.get(SHENZHEN)
            assert copy is not None and copy.version == v1
            await wire.send(SHENZHEN, "POST", "/x", b"{}", str(uuid.uuid4()), version=v1)
            assert directory.get(SHENZHEN) is copy  # the same version: no read
            assert requested == ["http://sz.test/x"] * 2

            await another_process(f"UPDATE interop.partner SET base_url = 'http://sz2.test' "
                                  f"WHERE region_code = '{SHENZHEN}'")
            v2 = await version()
            assert v2 != v1
            await wire.send(SHENZHEN, "POST", "/x", b"{}", str(uuid.uuid4()), version=v2)
            assert requested[-1] == "http://sz2.test/x" and directory.get(SHENZHEN).version == v2

            await another_process(f"UPDATE interop.partner SET status = 'suspended' WHERE region_code = '{SHENZHEN}'")
            sent = await wire.send(SHENZHEN, "POST", "/x", b"{}", str(uuid.uuid4()), version=await version())
            assert sent.problem == INACTIVE and len(requested) == 3
            # Without a version (a call someone waits for), the partner is always read.
            await another_process(f"UPDATE interop.partner SET status = 'active' WHERE region_code = '{SHENZHEN}'")
            await wire.send(SHENZHEN, "POST", "/y", b"{}", str(uuid.uuid4()))
            assert requested[-1] == "http://sz2.test/y"
