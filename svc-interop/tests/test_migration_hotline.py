"""Company migration (企业迁移) and the hotline referral loop between two real svc-interop
instances (Zhongshan on the session's NATS, Shenzhen on its own NATS with its real svc-cases).

Zhongshan's svc-cases is represented by its contract: the `cases.case.approved` event of a
company's migration-out case. Shenzhen's svc-cases is real: it opens the migration-in case, and
its clerk's steps come back to Zhongshan. Shenzhen's hotline tickets are represented by svc-cases'
`cases.ticket.*` events (TicketChangedV1), whatever svc-cases itself does with the referral."""

import datetime as dt
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

from tongban.interop.forwarding.migration import MIGRATION_IN_ITEM, MIGRATION_OUT_ITEMS
from tongban.interop.main import SERVICE
from tongban.interop.pairing import CITY_SERVICES, pair
from tongban.shared.contracts import cases as cases_contract
from tongban.shared.contracts.interop import REFERRAL_RECEIVED, ReferralV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import credit_code_check_char
from tongban.shared.localinfra import NatsProcess, free_port
from tongban.shared.testing.plugin import wait_for

pytestmark = pytest.mark.usefixtures("clean_nats")
ZHONGSHAN, SHENZHEN = "442000", "440300"
SECRET = "s3cret-for-tests"
CLIENTS = {"zs-at-sz": ZHONGSHAN, "sz-at-zs": SHENZHEN}
COMPANY = "91442000MA4W1XY30" + credit_code_check_char("91442000MA4W1XY30")
ZS_AMR = "11442000MB2C3D4E5" + credit_code_check_char("11442000MB2C3D4E5")
API = "/api/v1/interop"


async def publish(nats_url: str, service: str, event_type: str, data) -> None:
    """An event as its publisher (svc-cases here) puts it on its stream."""
    nc = await bus.connect(nats_url, f"test-{service}")
    try:
        await bus.ensure_stream(nc.jetstream(), service)
        event = make_event(service, event_type, data)
        await nc.jetstream().publish(event.type, event.model_dump_json().encode(), headers={"Nats-Msg-Id": str(event.id)})
    finally:
        await nc.close()


async def last_event(nats_url: str, subject: str):
    nc = await bus.connect(nats_url, "test-reader")
    try:
        return (await nc.jsm().get_last_msg(bus.stream_name("interop"), subject)).data
    except Exception:  # noqa: BLE001 - not there yet: the predicate polls again
        return None
    finally:
        await nc.close()


def approved_move_out(case_number: str, target: str) -> cases_contract.CaseApprovedV1:
    return cases_contract.CaseApprovedV1(
        case_id=uuid.uuid4(), case_number=case_number, item_basic_code=sorted(MIGRATION_OUT_ITEMS)[0],
        applicant_type="company", applicant_id=COMPANY, applicant_name="中山示例科技有限公司", department=ZS_AMR,
        approved_at=dt.datetime.now(dt.UTC), channel="online",
        data={"company_name": "中山示例科技有限公司", "credit_code": COMPANY, "target_city": target,
              "new_address": "深圳市南山区科技园1号"})


def test_every_grantable_service_is_discoverable():
    from tongban.interop.discovery.router import ENDPOINTS

    assert set(ENDPOINTS) == set(CITY_SERVICES)


async def test_company_migration_and_hotline_loop(infra, token_issuer, kit, admin, clerk):
    nats_b = NatsProcess(Path(tempfile.mkdtemp(prefix="sz-nats-"))).start()
    gw = await kit.Served(kit.token_endpoint(token_issuer, CLIENTS, SECRET)).start()
    ports = {ZHONGSHAN: free_port(), SHENZHEN: free_port()}
    urls = {r: f"http://127.0.0.1:{p}" for r, p in ports.items()}
    cases_b = await kit.start_cases(infra, token_issuer, SHENZHEN, nats_url=nats_b.url)
    a = await kit.Served(kit.build(infra, token_issuer, region_code=ZHONGSHAN, public_url=urls[ZHONGSHAN],
                                   partner_secrets={SHENZHEN: SECRET}), ports[ZHONGSHAN]).start()
    b = await kit.Served(kit.build(infra, token_issuer, database_url=infra.fresh_database(SERVICE),
                                   nats_url=nats_b.url, region_code=SHENZHEN, city_name="深圳市",
                                   public_url=urls[SHENZHEN], partner_secrets={ZHONGSHAN: SECRET},
                                   cases_url=cases_b.url), ports[SHENZHEN]).start()
    await kit.publish_items(nats_b.url, MIGRATION_IN_ITEM)
    await wait_for(lambda: kit.true(kit.handled(cases_b.app) >= 1))
    http = httpx.AsyncClient(headers={"Accept-Language": "en"}, timeout=10)
    try:
        admin_token = admin["Authorization"].split()[1]
        # Shenzhen grants Zhongshan everything but company.migrate (for now); Zhongshan grants Shenzhen the answers.
        await pair(http, urls[ZHONGSHAN], admin_token, urls[SHENZHEN], f"{gw.url}/auth/token", "zs-at-sz",
                   services=["case.status", "hotline.status"])
        await pair(http, urls[SHENZHEN], admin_token, urls[ZHONGSHAN], f"{gw.url}/auth/token", "sz-at-zs",
                   services=["discovery", "case.forward", "hotline.refer"])

        async def outgoing(kind="company_migration"):
            return (await http.get(f"{urls[ZHONGSHAN]}{API}/outgoing-cases", headers=clerk,
                                   params={"kind": kind})).json()["items"]

        # 1. Not granted: Shenzhen refuses the signed migration (403, logged); Zhongshan's record says so.
        await publish(infra.nats.url, "cases", cases_contract.CASE_APPROVED, approved_move_out("ZS-MOVE-1", SHENZHEN))
        refused = await wait_for(lambda: kit.when(outgoing(), lambda c: c and c[0]["status"] == "refused_by_partner"))
        assert refused[0]["local_case_number"] == "ZS-MOVE-1" and refused[0]["remote_case_number"] is None
        # A move-out to a city that is no partner is kept, not sent.
        await publish(infra.nats.url, "cases", cases_contract.CASE_APPROVED, approved_move_out("ZS-MOVE-0", "110000"))
        await wait_for(lambda: kit.when(outgoing(), lambda c: any(x["status"] == "not_sent" for x in c)))

        # 2. Granted: Shenzhen opens the migration-in case in its svc-cases and answers with its number.
        # (pairing again grants every service: the already registered partner is updated)
        granted = await pair(http, urls[SHENZHEN], admin_token, urls[ZHONGSHAN], f"{gw.url}/auth/token", "sz-at-zs")
        assert granted["services"] == CITY_SERVICES and "company.migrate" in granted["services"]
        approved = approved_move_out("ZS-MOVE-2", SHENZHEN)
        await publish(infra.nats.url, "cases", cases_contract.CASE_APPROVED, approved)
        moved = await wait_for(lambda: kit.when(outgoing(), lambda c: [x for x in c if x["local_case_number"] ==
                                                                     "ZS-MOVE-2" and x["remote_case_number"]]))
        mine = moved[0]
        assert mine["status"] == "accepted_by_partner" and mine["remote_case_number"].startswith(SHENZHEN)
        assert mine["kind"] == "company_migration" and mine["local_case_id"] == str(approved.case_id)
        assert mine["applicant_id_number"] != COMPANY  # masked for a clerk
        incoming = (await http.get(f"{urls[SHENZHEN]}{API}/incoming-cases", headers=clerk,
                                   params={"kind": "company_migration"})).json()
        assert incoming["total"] == 1
        there = incoming["items"][0]
        assert (there["partner_case_number"], there["case_number"]) == ("ZS-MOVE-2", mine["remote_case_number"])
        # Shenzhen's clerk acts within its halls and departments: the migration-in item's implementing body.
        sz_clerk = {"Authorization": "Bearer " + token_issuer.mint("clerk", "cases:read cases:process", ["cases"],
                                                                     halls=["sz-hall-1"], departments=[kit.DEPT])}
        in_case = (await http.get(f"{cases_b.url}/api/v1/cases/cases/{there['local_case_id']}", headers=sz_clerk)).json()
        assert in_case["applicant_type"] == "company" and in_case["basic_code"] == MIGRATION_IN_ITEM
        assert in_case["form_data"]["origin_city"] == ZHONGSHAN and in_case["form_data"]["new_address"]
        assert there["form"]["tax"]["clearance"] == "cleared" and there["form"]["registration"]["synthetic"] is True
        assert there["form"]["registration"]["registration_authority"] == ZS_AMR
        # The same approval delivered again (another event id) is the same migration.
        before = kit.handled(a.app)
        await publish(infra.nats.url, "cases", cases_contract.CASE_APPROVED, approved)
        await wait_for(lambda: kit.true(kit.handled(a.app) > before))

        # 3. Shenzhen's clerk accepts the migration-in case: the step reaches Zhongshan.
        r = await http.post(f"{cases_b.url}/api/v1/cases/cases/{there['local_case_id']}/accept", headers=sz_clerk,
                            json={})
        assert r.status_code == 200, r.text
        progressed = await wait_for(lambda: kit.when(outgoing(), lambda c: [x for x in c if x["progress"]]))
        assert progressed[0]["status"] == "partner_accepted"
        company_user = {"Authorization": "Bearer " + token_issuer.mint("company", "cases:read", ["interop"],
                                                                         credit_code=COMPANY)}
        own = await http.get(f"{urls[ZHONGSHAN]}{API}/outgoing-cases/{mine['id']}", headers=company_user)
        assert own.status_code == 200 and own.json()["applicant_id_number"] == COMPANY
        other_company = {"Authorization": "Bearer " + token_issuer.mint("company", "cases:read", ["interop"],
                                                                          credit_code=ZS_AMR)}
        assert (await http.get(f"{urls[ZHONGSHAN]}{API}/outgoing-cases/{mine['id']}",
                               headers=other_company)).status_code == 403
        assert len([x for x in await outgoing() if x["local_case_number"] == "ZS-MOVE-2"]) == 1

        # 4. Hotline: Zhongshan refers a ticket; Shenzhen announces it with the ticket for its svc-cases.
        r = await http.post(f"{urls[ZHONGSHAN]}{API}/referrals", headers=clerk, json={
            "partner": SHENZHEN, "ticket_number": "ZS12345-0009", "category": "市容环境", "summary": "深圳某路段噪音",
            "content": "来电反映深圳市福田区夜间施工噪音", "caller": {"name": "王五", "phone": "13800138000"}})
        assert r.status_code == 201, r.text
        sent = r.json()
        raw = await wait_for(lambda: last_event(nats_b.url, REFERRAL_RECEIVED))
        received = ReferralV1.model_validate_json(bus_data(raw))
        assert received.ticket is not None and received.ticket.ticket_number == "ZS12345-0009"
        assert received.ticket.caller_phone == "13800138000" and received.partner_reference_number == sent[
            "reference_number"]
        # Shenzhen's svc-cases opens, replies to and closes its ticket for the referral.
        ticket_id = uuid.uuid4()
        for event_type, state, reply in ((cases_contract.TICKET_OPENED, "received", None),
                                         (cases_contract.TICKET_REPLIED, "replied", "已协调施工单位夜间停工"),
                                         (cases_contract.TICKET_CLOSED, "closed", "已协调施工单位夜间停工")):
            await publish(nats_b.url, "cases", event_type, cases_contract.TicketChangedV1(
                ticket_id=ticket_id, ticket_number="SZ-T-0001", source="partner", category="complaint", state=state,
                referral_id=received.referral_id, reply=reply, at=dt.datetime.now(dt.UTC)))
        done = await wait_for(lambda: kit.when(
            http.get(f"{urls[ZHONGSHAN]}{API}/referrals/{sent['id']}", headers=clerk),
            lambda x: len(x.json()["progress"]) == 2))
        assert done.json()["status"] == "partner_closed"
        assert [p["status"] for p in done.json()["progress"]] == ["replied", "closed"]
        assert done.json()["progress"][0]["reply"] == "已协调施工单位夜间停工"
        theirs = (await http.get(f"{urls[SHENZHEN]}{API}/referrals/{received.referral_id}", headers=clerk)).json()
        assert theirs["status"] == "closed" and theirs["payload"]["local_ticket_number"]

        # 5. Discovery lists every service Shenzhen granted Zhongshan, the recent ones included.
        answer = await a.app.state.partner_client.call(SHENZHEN, "GET", f"{API}/exchange/services")
        listed = {s["name"] for s in answer.body["services"]}
        assert listed == set(CITY_SERVICES) and {"credentials.keys", "credentials.verify", "hotline.refer",
                                                 "hotline.status", "company.migrate"} <= listed
        assert {s["path"] for s in answer.body["services"] if s["name"] == "company.migrate"} == {
            f"{API}/exchange/company-migrations"}
        for url in urls.values():
            check = (await http.get(f"{url}{API}/ledger/verify", headers=admin)).json()
            assert check["ok"] is True
    finally:
        await http.aclose()
        await b.stop()
        await a.stop()
        await gw.stop()
        await cases_b.stop()
        nats_b.stop()


def bus_data(raw: bytes) -> bytes:
    """The envelope's `data` (the contract payload) from a stored message."""
    import json

    return json.dumps(json.loads(raw)["data"]).encode()

