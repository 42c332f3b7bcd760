"""The message contract on one instance (Zhongshan), with Shenzhen played by the test: the
partner registry, admission and refusals (each signed, logged and explained), idempotent
resends, the hash-chained log and discovery of our cross-city items."""

import asyncio
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text

from tongban.interop import signing
from tongban.interop.identity.models import SigningKey
from tongban.interop.ledger import service as ledger_service
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ITEM_RETIRED, ItemPublishedV1, ItemRetiredV1
from tongban.shared.events import bus
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.events.envelope import make_event
from tongban.shared.testing.plugin import wait_for

pytestmark = pytest.mark.usefixtures("clean_nats")
PUBLIC = "http://zs.test"
ZHONGSHAN, SHENZHEN = "442000", "440300"
CASES = "/api/v1/interop/exchange/cases"
ITEM = "440300000100"
UNKNOWN_ITEM = "440300000199"
ID_NUMBER = "11010519491231002X"


def partner_body(city, **extra):
    return {"region_code": city.region, "name": "深圳市", "base_url": "http://sz.test",
            "services": ["discovery", "case.forward"], "items": [ITEM], "keys": [city.jwk()],
            "contacts": [{"name": "值班", "phone": "0755-12345"}], **extra}


def forwarded(case_ref=None, case_number=None):
    case_number = case_number or f"440300X{uuid.uuid4().hex[:12]}"
    return {"case_ref": str(case_ref or uuid.uuid4()), "case_number": case_number, "item_code": ITEM,
            "applicant": {"id_number": ID_NUMBER, "name": "张三"}, "form": {"reason": "迁入"}}


async def test_partner_registry(infra, token_issuer, admin, kit):
    PartnerCity, interop = kit.PartnerCity, kit.interop
    sz = PartnerCity(SHENZHEN, token_issuer)
    async with interop(infra, token_issuer) as zs:
        idem = {**admin, "Idempotency-Key": "p-1"}
        r = await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=idem)
        assert r.status_code == 201, r.text
        assert r.json()["keys"][0]["kid"] == sz.kid and r.json()["services"] == ["discovery", "case.forward"]
        again = await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=idem)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        dup = await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)
        assert dup.status_code == 409 and dup.json()["code"] == "partner_exists"
        own = await zs.post("/api/v1/interop/partners", json=partner_body(sz, region_code=ZHONGSHAN), headers=admin)
        assert own.status_code == 422 and own.json()["code"] == "own_region"
        bad = await zs.post("/api/v1/interop/partners", json=partner_body(sz, region_code="4403"), headers=admin)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "region_code"
        bad_key = partner_body(sz, region_code="440100", keys=[{**sz.jwk(), "x": "A" * 44}])
        r = await zs.post("/api/v1/interop/partners", json=bad_key, headers=admin)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "keys.0.x"
        no_scope = await zs.get("/api/v1/interop/partners", headers={
            "Authorization": "Bearer " + token_issuer.mint("clerk", "cases:read", ["interop"])})
        assert no_scope.status_code == 403

        second = PartnerCity(SHENZHEN, token_issuer)
        second.kid = "440300-test-2"
        r = await zs.post(f"/api/v1/interop/partners/{SHENZHEN}/keys", json=second.jwk(), headers=admin)
        assert r.status_code == 201 and len(r.json()["keys"]) == 2
        r = await zs.delete(f"/api/v1/interop/partners/{SHENZHEN}/keys/{second.kid}",
                            params={"reason": "rotated out"}, headers=admin)
        assert [k["revoked_at"] is not None for k in r.json()["keys"]] == [False, True]
        r = await zs.patch(f"/api/v1/interop/partners/{SHENZHEN}", json={"status": "suspended", "reason": "drill"},
                           headers=admin)
        assert r.json()["status"] == "suspended"
        page = (await zs.get("/api/v1/interop/partners", params={"limit": 1}, headers=admin)).json()
        assert page["total"] == 1 and page["items"][0]["region_code"] == SHENZHEN
        audit = (await zs.get("/api/v1/interop/audit-events", params={"entity": "partner"}, headers=admin)).json()
        assert {e["action"] for e in audit["items"]} == {
            "partner.registered", "partner.key_added", "partner.key_revoked", "partner.updated"}


async def test_identity_key_is_generated_once_and_kept(infra, token_issuer, kit):
    interop = kit.interop
    url = infra.fresh_database(__import__("tongban.interop.main", fromlist=["SERVICE"]).SERVICE)
    async with interop(infra, token_issuer, database_url=url) as zs:
        first = (await zs.get("/api/v1/interop/identity")).json()
    async with interop(infra, token_issuer, database_url=url) as zs:
        second = (await zs.get("/api/v1/interop/identity")).json()
        async with zs.app.state.sessionmaker() as s:
            stored = (await s.execute(select(SigningKey))).scalars().all()
    assert first == second and first["region_code"] == ZHONGSHAN and len(stored) == 1
    assert first["keys"][0]["kty"] == "OKP" and "BEGIN ENCRYPTED PRIVATE KEY" in stored[0].private_pem


async def test_refusals_are_explained_signed_and_logged(infra, token_issuer, admin, kit):
    PartnerCity, interop, verify_answer = kit.PartnerCity, kit.interop, kit.verify_answer
    sz = PartnerCity(SHENZHEN, token_issuer)
    async with kit.cases_service(infra, token_issuer, ZHONGSHAN, items=(ITEM,)) as cases, \
            interop(infra, token_issuer, cases_url=cases.url) as zs:
        granted = partner_body(sz, items=[ITEM, UNKNOWN_ITEM])
        assert (await zs.post("/api/v1/interop/partners", json=granted, headers=admin)).status_code == 201
        identity = (await zs.get("/api/v1/interop/identity")).json()

        async def send(path, body=None, method="POST", **kw):
            headers, raw, signed = sz.request(method, PUBLIC + path, body, **kw)
            resp = await zs.request(method, path, content=raw, headers=headers)
            verify_answer(resp, identity, signed)  # every answer, refusals too, is signed and bound
            return resp, headers, raw

        first = forwarded()
        ok, headers, raw = await send(CASES, first)
        assert ok.status_code == 202, ok.text
        assert ok.json()["case_number"].startswith(ZHONGSHAN) and ok.json()["status"] == "submitted"  # svc-cases' case
        r, *_ = await send(CASES, forwarded(case_number=first["case_number"]))  # same number, another case ref
        assert r.status_code == 409 and r.json()["code"] == "partner_case_number_reused"
        replay = await zs.post(CASES, content=raw, headers=headers)
        assert replay.status_code == 409 and replay.json()["code"] == "nonce_replayed"

        tampered_headers, raw2, _ = sz.request("POST", PUBLIC + CASES, forwarded())
        r = await zs.post(CASES, content=raw2.replace("张三".encode(), "李四".encode()), headers=tampered_headers)
        assert r.status_code == 400 and r.json()["code"] == "digest_mismatch"
        forged = Ed25519PrivateKey.generate()
        r, *_ = await send(CASES, forwarded(), key=forged)
        assert r.status_code == 401 and r.json()["code"] == "bad_signature"
        r, *_ = await send(CASES, forwarded(), kid="440300-unknown")
        assert r.status_code == 401 and r.json()["code"] == "unknown_kid"
        r, *_ = await send(CASES, forwarded(), created=int(time.time()) - 301)
        assert r.status_code == 401 and r.json()["code"] == "stale_timestamp"
        r, *_ = await send("/api/v1/interop/exchange/case-status", {"case_ref": str(uuid.uuid4())})
        assert r.status_code == 403 and r.json()["code"] == "service_not_granted"
        r, *_ = await send(CASES, forwarded(), sender="440100")
        assert r.status_code == 403 and r.json()["code"] == "sender_mismatch"
        r, *_ = await send(CASES, {**forwarded(), "item_code": "440300009999"})
        assert r.status_code == 403 and r.json()["code"] == "item_not_granted"
        r, *_ = await send(CASES, {**forwarded(), "applicant": {"id_number": "110105194912310021", "name": "x"}})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "applicant.id_number"
        # granted here, but svc-cases has no such item: its refusal names our wire field
        r, *_ = await send(CASES, {**forwarded(), "item_code": UNKNOWN_ITEM})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "item_code"

        # Only an authenticated partner's signed messages reach the log (a forged, tampered, stale
        # or misattributed one is refused before anything is stored), refusals with their digest.
        log = (await zs.get("/api/v1/interop/ledger/entries", params={"outcome": "refused"}, headers=admin)).json()
        assert sorted(e["reason"] for e in log["items"]) == sorted([
            "nonce_replayed", "service_not_granted", "item_not_granted", "invalid_field", "invalid_field",
            "partner_case_number_reused"])
        assert all("signature" in e["request_headers"] for e in log["items"])
        metrics = (await zs.get("/metrics")).text
        for reason in ("digest_mismatch", "bad_signature", "unknown_kid", "stale_timestamp", "sender_mismatch"):
            assert f'interop_unauthenticated_refusals_total{{reason="{reason}"}} 1.0' in metrics


async def test_a_resent_message_id_gets_the_first_answer(infra, token_issuer, admin, kit):
    PartnerCity, interop = kit.PartnerCity, kit.interop
    sz = PartnerCity(SHENZHEN, token_issuer)
    async with kit.cases_service(infra, token_issuer, ZHONGSHAN, items=(ITEM,)) as cases, \
            interop(infra, token_issuer, cases_url=cases.url) as zs:
        await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)
        message_id, body = str(uuid.uuid4()), forwarded()
        answers = []
        for _ in range(2):  # the partner's retry: same message id, fresh nonce and signature
            headers, raw, _ = sz.request("POST", PUBLIC + CASES, body, message_id=message_id)
            answers.append(await zs.post(CASES, content=raw, headers=headers))
        assert [a.status_code for a in answers] == [202, 202]
        assert answers[0].json() == answers[1].json() and answers[1].headers["idempotent-replayed"] == "true"
        page = (await zs.get("/api/v1/interop/incoming-cases", headers=admin)).json()
        assert page["total"] == 1 and page["items"][0]["applicant_id_number"] == "110105********002X"

        evidence = await zs.get(f"/api/v1/interop/ledger/messages/{message_id}/evidence", headers=admin)
        assert evidence.status_code == 200 and "attachment" in evidence.headers["content-disposition"]
        data = evidence.json()
        assert len(data["entries"]) == 2 and data["chain"]["ok"] is True
        assert data["entries"][0]["request_headers"]["signature"].startswith("sig1=:")
        assert data["entries"][0]["response_headers"]["x-interop-request-hash"].startswith("sha-256=:")


async def test_the_chain_verifies_and_catches_a_changed_row(infra, token_issuer, admin, kit):
    PartnerCity, interop = kit.PartnerCity, kit.interop
    sz = PartnerCity(SHENZHEN, token_issuer)
    async with kit.cases_service(infra, token_issuer, ZHONGSHAN, items=(ITEM,)) as cases, \
            interop(infra, token_issuer, cases_url=cases.url) as zs:
        await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)
        for _ in range(3):
            headers, raw, _ = sz.request("POST", PUBLIC + CASES, forwarded())
            assert (await zs.post(CASES, content=raw, headers=headers)).status_code == 202
        check = (await zs.get("/api/v1/interop/ledger/verify", headers=admin)).json()
        # The three calls, and whatever the background partner sync has tried meanwhile (it may
        # run before the partner exists or after, so its failed pulls are in the ledger or not).
        listed = (await zs.get("/api/v1/interop/ledger/entries", headers=admin)).json()["total"]
        assert check["ok"] is True and check["entries"] == listed >= 3
        auditor = {"Authorization": "Bearer " + token_issuer.mint("auditor", "audit:read", ["interop"])}
        assert (await zs.get("/api/v1/interop/ledger/verify", headers=auditor)).status_code == 200

        async with zs.app.state.sessionmaker() as s:
            with pytest.raises(Exception, match="append-only"):
                async with s.begin():
                    await s.execute(text("UPDATE interop.message_log SET outcome = 'refused' WHERE seq = 2"))
        async with zs.app.state.sessionmaker() as s, s.begin():
            # What a superuser could do behind the trigger's back.
            await s.execute(text("SET LOCAL session_replication_role = replica"))
            await s.execute(text("UPDATE interop.message_log SET response_body = 'forged' WHERE seq = 2"))
        check = (await zs.get("/api/v1/interop/ledger/verify", headers=admin)).json()
        assert check == {**check, "ok": False, "broken_at": 2, "entries": 1}
        assert "content" in check["problem"]


async def test_discovery_lists_our_cross_city_items_from_catalogue_events(infra, token_issuer, admin, kit):
    PartnerCity, interop = kit.PartnerCity, kit.interop
    sz = PartnerCity(SHENZHEN, token_issuer)
    events = []
    for code, flag in (("442000000101", True), ("442000000102", False), ("442000000103", True)):
        data = ItemPublishedV1(item_id=uuid.uuid4(), basic_code=code, name=f"事项{code}", item_type="00", version=1,
                               case_type="commitment", record={"flags": {"cross_city": flag}})
        events.append(make_event("catalog", ITEM_PUBLISHED, data, subject=str(data.item_id)))
    retired = ItemRetiredV1(item_id=events[2].data["item_id"], basic_code="442000000103", name="x", version=2,
                            reason="merged", retired_at="2026-01-01T00:00:00Z")
    events.append(make_event("catalog", ITEM_RETIRED, retired))
    nc = await bus.connect(infra.nats.url, "test-catalog")
    await bus.ensure_stream(nc.jetstream(), "catalog")
    for e in events:
        await nc.jetstream().publish(e.type, e.model_dump_json().encode(), headers={"Nats-Msg-Id": str(e.id)})
    await nc.close()
    async with interop(infra, token_issuer) as zs:
        await zs.post("/api/v1/interop/partners", json=partner_body(sz, items=["*"]), headers=admin)
        await wait_for(lambda: _handled(zs, 4))
        headers, _, signed = sz.request("GET", PUBLIC + "/api/v1/interop/exchange/items")
        page = (await zs.get("/api/v1/interop/exchange/items", headers=headers)).json()
        assert [i["basic_code"] for i in page["items"]] == ["442000000101"]
        headers, _, _ = sz.request("GET", PUBLIC + "/api/v1/interop/exchange/services")
        services = (await zs.get("/api/v1/interop/exchange/services", headers=headers)).json()
        assert [s["name"] for s in services["services"]] == ["discovery", "discovery", "case.forward"]
        assert services["openapi_url"] == PUBLIC + "/api/v1/interop/openapi.json"


async def _handled(client, n):
    return sum(c.handled for c in client.app.state.runtime.consumers) >= n


async def test_concurrent_exchanges_share_appends_and_the_chain_holds(infra, token_issuer, admin, kit, monkeypatch):
    """Messages arriving together: their log entries are appended in batches (one lock, one
    commit each) and every answer leaves only after its own entry is committed; the chain of all
    of them verifies, gapless."""
    PartnerCity, interop = kit.PartnerCity, kit.interop
    sz = PartnerCity(SHENZHEN, token_issuer)
    async with kit.cases_service(infra, token_issuer, ZHONGSHAN, items=(ITEM,)) as cases, \
            interop(infra, token_issuer, cases_url=cases.url) as zs:
        await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)
        writer = zs.app.state.ledger
        batches = []
        real = ledger_service.append_many

        async def counted(session, xs, **kw):
            # Inbound entries only: the background partner sync logs its outbound calls meanwhile.
            batches.append(sum(1 for x in xs if x.direction == "inbound"))
            return await real(session, xs, **kw)

        monkeypatch.setattr(ledger_service, "append_many", counted)
        calls = [sz.request("POST", PUBLIC + CASES, forwarded()) for _ in range(12)]
        answers = await asyncio.gather(*(zs.post(CASES, content=raw, headers=headers) for headers, raw, _ in calls))
        monkeypatch.setattr(ledger_service, "append_many", real)
        assert [a.status_code for a in answers] == [202] * 12
        assert sum(batches) == 12 and writer._pending == []
        async with zs.app.state.sessionmaker() as s:
            logged = set((await s.execute(text(
                "SELECT message_id FROM interop.message_log WHERE direction = 'inbound'"))).scalars())
        assert {h[signing.MESSAGE_ID] for h, _, _ in calls} <= logged
        check = (await zs.get("/api/v1/interop/ledger/verify", headers=admin)).json()
        listed = (await zs.get("/api/v1/interop/ledger/entries", headers=admin)).json()["total"]
        assert check["ok"] is True and check["entries"] == listed >= 12


async def test_the_edges_copy_of_a_partner_never_outlives_a_change_of_the_registry(infra, token_issuer, admin, kit):
    """The exchange edge authenticates a known sender from memory (exchange.service.PartnerDirectory);
    a key revoked, a partner suspended or a grant withdrawn by any process (here: SQL straight into
    the database, as another replica or the worker would commit it) is refused from the next
    message on, and a key registered since is accepted at once."""
    PartnerCity, interop, verify_answer = kit.PartnerCity, kit.interop, kit.verify_answer
    sz = PartnerCity(SHENZHEN, token_issuer)
    async with kit.cases_service(infra, token_issuer, ZHONGSHAN, items=(ITEM,)) as cases, \
            interop(infra, token_issuer, cases_url=cases.url) as zs:
        assert (await zs.post("/api/v1/interop/partners", json=partner_body(sz), headers=admin)).status_code == 201
        identity = (await zs.get("/api/v1/interop/identity")).json()
        directory = zs.app.state.partners

        async def send(body, **kw):
            headers, raw, signed = sz.request("POST", PUBLIC + CASES, body, **kw)
            resp = await zs.post(CASES, content=raw, headers=headers)
            verify_answer(resp, identity, signed)
            return resp

        async def another_process(sql):
            engine = make_engine(zs.app.state.settings.database_url, 1)
            try:
                async with make_sessionmaker(engine)() as s, s.begin():
                    await s.execute(text(sql))
            finally:
                await engine.dispose()

        async def stored(case_ref):
            async with zs.app.state.sessionmaker() as s:
                return (await s.execute(text("SELECT count(*) FROM interop.incoming_case WHERE partner_case_ref = :r"),
                                        {"r": case_ref})).scalar_one()

        assert (await send(forwarded())).status_code == 202
        remembered = directory.get(SHENZHEN)
        assert remembered is not None and set(remembered.keys) == {sz.kid}
        assert (await send(forwarded())).status_code == 202
        assert directory.get(SHENZHEN) is remembered  # the second message needed no read of the partner

        # A key registered since the copy was taken: the copy does not know it, the database does.
        second = PartnerCity(SHENZHEN, token_issuer)
        second.kid = "440300-test-2"
        assert (await zs.post(f"/api/v1/interop/partners/{SHENZHEN}/keys", json=second.jwk(),
                              headers=admin)).status_code == 201
        assert (await send(forwarded(), key=second.key, kid=second.kid)).status_code == 202
        assert set(directory.get(SHENZHEN).keys) == {sz.kid, second.kid}

        # The first key revoked behind this process's back: refused, nothing of the message stored.
        await another_process(f"UPDATE interop.partner_key SET revoked_at = now() WHERE kid = '{sz.kid}'")
        case = forwarded()
        r = await send(case)
        assert r.status_code == 401 and r.json()["code"] == "unknown_kid", r.text
        assert await stored(case["case_ref"]) == 0
        assert directory.get(SHENZHEN) is None  # the stale copy dropped
        assert (await send(forwarded(), key=second.key, kid=second.kid)).status_code == 202
        assert set(directory.get(SHENZHEN).keys) == {second.kid}  # read again, at the registry's version

        # A grant withdrawn, then the partner suspended, the same way.
        await another_process(f"UPDATE interop.partner SET services = '{{discovery}}' WHERE region_code = '{SHENZHEN}'")
        r = await send(forwarded(), key=second.key, kid=second.kid)
        assert r.status_code == 403 and r.json()["code"] == "service_not_granted", r.text
        await another_process(f"UPDATE interop.partner SET status = 'suspended', services = '{{discovery,case.forward}}' "
                              f"WHERE region_code = '{SHENZHEN}'")
        case = forwarded()
        r = await send(case, key=second.key, kid=second.kid)
        assert r.status_code == 403 and r.json()["code"] == "unknown_partner", r.text
        assert await stored(case["case_ref"]) == 0
        # ... and the suspended partner is refused at the edge from then on (the copy says so).
        r = await send(forwarded(), key=second.key, kid=second.kid)
        assert r.json()["code"] == "unknown_partner"


async def test_appends_from_two_processes_keep_one_gapless_chain(infra, token_issuer, kit):
    """Two processes (two engines, two LedgerWriters: the web app and the worker) append at once;
    each append locks and reads the head row in one statement and the trigger moves it: the
    chain stays gapless and verifies, and the head names its last entry."""
    async with kit.interop(infra, token_issuer) as zs:
        engines = [make_engine(zs.app.state.settings.database_url, 2) for _ in range(2)]
        try:
            writers = [ledger_service.LedgerWriter(make_sessionmaker(e)) for e in engines]

            def entry(i):
                return ledger_service.Exchange(direction="inbound", method="POST", target=f"{PUBLIC}/x/{i}",
                                               request_headers={}, request_body=b"{}", outcome="accepted",
                                               partner=SHENZHEN, message_id=str(uuid.uuid4()))

            await asyncio.gather(*(writers[i % 2].append(entry(i)) for i in range(40)))
        finally:
            for e in engines:
                await e.dispose()
        async with zs.app.state.sessionmaker() as s:
            check = await ledger_service.verify(s)
            head = (await s.execute(text("SELECT seq, hash FROM interop.message_log_head"))).one()
            last = (await s.execute(text("SELECT seq, hash FROM interop.message_log ORDER BY seq DESC LIMIT 1"))).one()
        assert check.ok and check.entries >= 40 and tuple(head) == tuple(last) == (check.head_seq, check.head_hash)
