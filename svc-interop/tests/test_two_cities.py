"""Zhongshan and Shenzhen side by side: two svc-interop instances (separate databases and NATS
servers) on real ports, each registered as the other's partner with the other's published key,
tokens from a stand-in for each city's gateway, and Shenzhen's real svc-cases. A case is
forwarded both ways of the contract: Zhongshan sends it, Shenzhen opens it in svc-cases and
answers 202 with svc-cases' case number; Shenzhen's clerk and approver move it in svc-cases,
and each step reaches Zhongshan (cases.case.* events → signed case.status). Zhongshan imports
Shenzhen's cross-city items. Shenzhen goes down and comes back: the message waits, is retried,
and is delivered once. A message copied off the wire and sent again is refused (nonce seen)."""

import base64
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

from tongban.interop.main import SERVICE
from tongban.shared.localinfra import NatsProcess, free_port
from tongban.shared.testing.plugin import wait_for

pytestmark = pytest.mark.usefixtures("clean_nats")
ZHONGSHAN, SHENZHEN = "442000", "440300"
ITEM = "440300000100"
SECRET = "s3cret-for-tests"
# Our OAuth client at the other city's gateway, and which partner that client is.
CLIENTS = {"zs-at-sz": ZHONGSHAN, "sz-at-zs": SHENZHEN}


async def test_two_cities_forward_a_case_both_ways(infra, token_issuer, kit, admin, clerk):
    nats_b = NatsProcess(Path(tempfile.mkdtemp(prefix="sz-nats-"))).start()
    gw = await kit.Served(kit.token_endpoint(token_issuer, CLIENTS, SECRET)).start()
    ports = {ZHONGSHAN: free_port(), SHENZHEN: free_port()}
    urls = {r: f"http://127.0.0.1:{p}" for r, p in ports.items()}
    db_b = infra.fresh_database(SERVICE)
    cases_b = await kit.start_cases(infra, token_issuer, SHENZHEN, nats_url=nats_b.url)

    def city_b():
        return kit.build(infra, token_issuer, database_url=db_b, nats_url=nats_b.url, region_code=SHENZHEN,
                         city_name="深圳市", public_url=urls[SHENZHEN], partner_secrets={ZHONGSHAN: SECRET},
                         cases_url=cases_b.url)

    a = await kit.Served(kit.build(infra, token_issuer, region_code=ZHONGSHAN, public_url=urls[ZHONGSHAN],
                                   partner_secrets={SHENZHEN: SECRET}, partner_sync_seconds=1.0),
                         ports[ZHONGSHAN]).start()
    b = await kit.Served(city_b(), ports[SHENZHEN]).start()
    # Shenzhen's catalogue publishes its cross-city item: its svc-cases and svc-interop both take it.
    await kit.publish_items(nats_b.url, ITEM)
    await wait_for(lambda: kit.true(kit.handled(cases_b.app) >= 1 and kit.handled(b.app) >= 1))
    http = httpx.AsyncClient(headers={"Accept-Language": "en"}, timeout=10)
    try:
        ids = {r: (await http.get(f"{u}/api/v1/interop/identity")).json() for r, u in urls.items()}
        assert ids[ZHONGSHAN]["keys"][0]["kid"] != ids[SHENZHEN]["keys"][0]["kid"]
        for me, other, client, services, items in (
                (ZHONGSHAN, SHENZHEN, "zs-at-sz", ["case.status"], []),
                (SHENZHEN, ZHONGSHAN, "sz-at-zs", ["discovery", "case.forward", "hotline.refer"], [ITEM])):
            r = await http.post(f"{urls[me]}/api/v1/interop/partners", headers=admin, json={
                "region_code": other, "name": ids[other]["name"], "base_url": urls[other],
                "token_url": f"{gw.url}/auth/token", "client_id": client, "services": services, "items": items,
                "keys": ids[other]["keys"]})
            assert r.status_code == 201, r.text

        # 0. Zhongshan imports Shenzhen's cross-city items (signed discovery) and shows them as Shenzhen's:
        # its worker pulls them periodically, and an admin can pull at once.
        partner_items = f"{urls[ZHONGSHAN]}/api/v1/interop/partner-items"
        await wait_for(lambda: kit.when(http.get(partner_items), lambda p: p.json()["total"] == 1))
        synced = await http.post(f"{urls[ZHONGSHAN]}/api/v1/interop/partners/{SHENZHEN}/sync", headers=admin)
        assert synced.status_code == 200, synced.text
        by_kind = {s["kind"]: s for s in synced.json()}
        assert by_kind["items"]["ok"] is True and by_kind["items"]["count"] == 1
        assert by_kind["issuer_keys"]["ok"] is False  # Shenzhen did not grant us credentials.keys: recorded
        theirs = (await http.get(partner_items, params={"partner": SHENZHEN})).json()
        assert [(i["partner"], i["basic_code"]) for i in theirs["items"]] == [(SHENZHEN, ITEM)]
        r = await http.post(f"{urls[ZHONGSHAN]}/api/v1/interop/outgoing-cases", headers=clerk, json={
            "partner": SHENZHEN, "item_code": "440300000999", "applicant": {"id_number": "11010519491231002X",
                                                                             "name": "张三"}})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "item_code"  # not one of theirs

        async def forward(applicant_id):
            r = await http.post(f"{urls[ZHONGSHAN]}/api/v1/interop/outgoing-cases", headers={
                **clerk, "Idempotency-Key": str(uuid.uuid4())}, json={
                "partner": SHENZHEN, "item_code": ITEM, "applicant": {"id_number": applicant_id, "name": "张三"},
                "form": {"purpose": "异地受理"}})
            assert r.status_code == 201, r.text
            return r.json()

        async def outgoing(case_id):
            return (await http.get(f"{urls[ZHONGSHAN]}/api/v1/interop/outgoing-cases/{case_id}", headers=clerk)).json()

        # 1. Zhongshan forwards; Shenzhen opens it in its svc-cases and answers 202 with that case number.
        case = await forward("11010519491231002X")
        assert case["status"] == "forwarding" and case["applicant_id_number"] == "110105********002X"
        accepted = await wait_for(lambda: kit.when(outgoing(case["id"]), lambda c: c["remote_case_number"]))
        assert accepted["status"] == "accepted_by_partner" and accepted["remote_case_number"].startswith(SHENZHEN)
        incoming = (await http.get(f"{urls[SHENZHEN]}/api/v1/interop/incoming-cases", headers=clerk)).json()
        assert incoming["total"] == 1 and incoming["items"][0]["case_number"] == accepted["remote_case_number"]
        assert incoming["items"][0]["partner_case_number"] == case["case_number"]
        local_id = incoming["items"][0]["local_case_id"]
        # Shenzhen's staff act within their halls and departments: the case's department is the
        # implementing body of Shenzhen's item; a forwarded case has no hall of ours.
        sz_clerk = {"Authorization": "Bearer " + token_issuer.mint("clerk", "cases:read cases:process", ["cases"],
                                                                     sub="sz-clerk", halls=["sz-hall-1"],
                                                                     departments=[kit.DEPT])}
        sz_approver = {"Authorization": "Bearer " + token_issuer.mint(
            "approver", "cases:read cases:approve", ["cases"], sub="sz-approver", department=kit.DEPT)}
        in_cases = (await http.get(f"{cases_b.url}/api/v1/cases/cases/{local_id}", headers=sz_clerk)).json()
        assert (in_cases["channel"], in_cases["partner_region"], in_cases["partner_case_number"]) == (
            "partner", ZHONGSHAN, case["case_number"])

        # 2. Shenzhen's clerk and approver move the case in svc-cases; each step reaches Zhongshan.
        for action, who in (("accept", sz_clerk), ("review", sz_approver), ("approve", sz_approver)):
            r = await http.post(f"{cases_b.url}/api/v1/cases/cases/{local_id}/{action}", headers=who, json={})
            assert r.status_code == 200, r.text
        progressed = await wait_for(lambda: kit.when(outgoing(case["id"]), lambda c: len(c["progress"]) == 3))
        assert [p["status"] for p in progressed["progress"]] == ["accepted", "in_review", "approved"]
        assert progressed["status"] == "partner_approved"
        mirrored = (await http.get(f"{urls[SHENZHEN]}/api/v1/interop/incoming-cases", headers=clerk)).json()
        assert mirrored["items"][0]["status"] == "approved"
        citizen = {"Authorization": "Bearer " + token_issuer.mint(
            "citizen", "cases:read", ["interop"], id_number="11010519491231002X", real_name_level="verified")}
        mine = (await http.get(f"{urls[ZHONGSHAN]}/api/v1/interop/outgoing-cases/{case['id']}", headers=citizen))
        assert mine.status_code == 200 and mine.json()["applicant_id_number"] == "11010519491231002X"

        # 2b. A 12345 ticket taken in Zhongshan that belongs to Shenzhen is referred there.
        r = await http.post(f"{urls[ZHONGSHAN]}/api/v1/interop/referrals", headers=clerk, json={
            "partner": SHENZHEN, "ticket_number": "ZS12345-0001", "category": "交通", "summary": "深圳路段积水",
            "content": "来电反映深圳市南山区某路段积水", "caller": {"name": "李四", "phone": "13800138000"}})
        assert r.status_code == 201, r.text
        referral = r.json()
        taken = await wait_for(lambda: kit.when(
            http.get(f"{urls[ZHONGSHAN]}/api/v1/interop/referrals/{referral['id']}", headers=clerk),
            lambda x: x.json()["status"] == "accepted_by_partner"))
        received = (await http.get(f"{urls[SHENZHEN]}/api/v1/interop/referrals", headers=clerk,
                                   params={"direction": "inbound"})).json()
        assert received["total"] == 1 and received["items"][0]["payload"]["ticket_number"] == "ZS12345-0001"
        assert taken.json()["payload"]["remote_reference_number"] == received["items"][0]["reference_number"]

        # 3. Shenzhen is down: the message waits and is retried; it is delivered once when Shenzhen is back.
        await b.stop()
        second = await forward("442000199001010011")
        outbound = f"{urls[ZHONGSHAN]}/api/v1/interop/outbound-messages"
        waiting = await wait_for(lambda: kit.when(http.get(outbound, params={"state": "pending"}, headers=admin),
                                               lambda p: p.json()["items"] and p.json()["items"][0]["attempts"] >= 2))
        assert "unreachable" in waiting.json()["items"][0]["last_error"]
        b = await kit.Served(city_b(), ports[SHENZHEN]).start()
        delivered = await wait_for(lambda: kit.when(outgoing(second["id"]), lambda c: c["remote_case_number"]),
                                   timeout=20)
        assert delivered["status"] == "accepted_by_partner"
        incoming = (await http.get(f"{urls[SHENZHEN]}/api/v1/interop/incoming-cases", headers=clerk)).json()
        assert incoming["total"] == 2

        # 4. A delivered request copied off the wire and sent again is refused: its nonce was seen.
        message_id = waiting.json()["items"][0]["id"]
        evidence = (await http.get(f"{urls[ZHONGSHAN]}/api/v1/interop/ledger/messages/{message_id}/evidence",
                                   headers=admin)).json()
        sent = [e for e in evidence["entries"] if e["outcome"] == "delivered"][0]
        token = token_issuer.mint("partner", "interop:exchange", ["interop"], partner=ZHONGSHAN)
        replay = await http.post(sent["target"], content=base64.b64decode(sent["request_body_b64"]),
                                 headers={**sent["request_headers"], "authorization": f"Bearer {token}"})
        assert replay.status_code == 409 and replay.json()["code"] == "nonce_replayed"
        assert (await http.get(f"{urls[SHENZHEN]}/api/v1/interop/incoming-cases", headers=clerk)).json()["total"] == 2

        # 5. Both logs hold every exchange, and both chains verify.
        for url in urls.values():
            check = (await http.get(f"{url}/api/v1/interop/ledger/verify", headers=admin)).json()
            assert check["ok"] is True and check["entries"] >= 5
        failed_attempts = [e for e in evidence["entries"] if e["outcome"] == "retry"]
        assert failed_attempts and all(e["response_status"] is None for e in failed_attempts)
    finally:
        await http.aclose()
        await b.stop()
        await a.stop()
        await gw.stop()
        await cases_b.stop()
        nats_b.stop()

