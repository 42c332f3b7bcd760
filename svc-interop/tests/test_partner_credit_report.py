"""深中通办 信用报告: a Shenzhen credit report stands in for a 无违法违规证明 in a Zhongshan case.

Shenzhen's credit platform issues the resident's credit report as a licence of its
`credit report` type (subject, level, black-list entries; issued and valid until) in its own
svc-credentials, signed with its issuer key. The resident, in Zhongshan, gives her consent for
Shenzhen in Zhongshan's app and has Shenzhen make a presentation of it through Zhongshan's
svc-interop (`credentials.present`, the signed exchange). Zhongshan's svc-cases verifies it with
Zhongshan's svc-credentials against Shenzhen's keys on the trust list (synced by svc-interop),
and takes it for the material when the licence-type mapping makes that type stand for ours, it
is the applicant's and it is clean. A forged or altered presentation, an expired one, another
person's report, a report with a black-list entry, one of a type not mapped: 422, the case stays a
draft, the refusal on its timeline and in the log, the verification audited at svc-credentials."""

import base64
import datetime as dt
import json
import logging
import tempfile
from pathlib import Path

import httpx
import pytest

from tongban.interop.pairing import pair
from tongban.shared import clock
from tongban.shared.ids import credit_code_check_char, resident_id_check_digit
from tongban.shared.localinfra import free_port
from tongban.shared.service_auth import BearerAuth, StaticToken

pytestmark = pytest.mark.usefixtures("clean_nats")
ZHONGSHAN, SHENZHEN = "442000", "440300"
SECRET = "s3cret-for-tests"
CLIENTS = {"zs-at-sz": ZHONGSHAN, "sz-at-zs": SHENZHEN}
SZ_CREDIT = "11440300007234568" + credit_code_check_char("11440300007234568")   # 深圳市公共信用中心
HOLDER = "44200019900101123" + resident_id_check_digit("44200019900101123")    # lives in Zhongshan
NEIGHBOUR = "44200019851231456" + resident_id_check_digit("44200019851231456")
CRED, API, CASES = "/api/v1/credentials", "/api/v1/interop", "/api/v1/cases"
ITEM = "000105009000"
REPORT = SZ_CREDIT + "001"          # Shenzhen's credit report type
OTHER = SZ_CREDIT + "002"           # another Shenzhen type, not mapped to ours


def _wallet_test():
    """The two-city svc-credentials helpers of test_partner_wallet (tests are not importable as
    modules under --import-mode=importlib)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_partner_wallet", Path(__file__).with_name("test_partner_wallet.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_shenzhen_credit_report_stands_in_for_a_certificate(infra, token_issuer, kit, admin):
    refusals: list[str] = []
    collect = logging.Handler()
    collect.emit = lambda record: refusals.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("tongban.cases.material").addHandler(collect)
    wallet = _wallet_test()
    credentials_app, forget_cached_keys = wallet.credentials_app, wallet.forget_cached_keys
    gw = await kit.Served(kit.token_endpoint(token_issuer, CLIENTS, SECRET)).start()
    key_dir = Path(tempfile.mkdtemp(prefix="cred-keys-"))
    creds = {r: await kit.Served(credentials_app(infra, token_issuer, key_dir, r)).start()
             for r in (ZHONGSHAN, SHENZHEN)}
    ports = {r: free_port() for r in (ZHONGSHAN, SHENZHEN)}
    urls = {r: f"http://127.0.0.1:{p}" for r, p in ports.items()}
    cities = {}
    for me, other in ((ZHONGSHAN, SHENZHEN), (SHENZHEN, ZHONGSHAN)):
        app = kit.build(infra, token_issuer, region_code=me, public_url=urls[me], partner_secrets={other: SECRET},
                        credentials_url=creds[me].url, credentials_public_url=creds[me].url + "/",
                        partner_url_bases={other: [creds[other].url]})
        cities[me] = await kit.Served(app, ports[me]).start()
    cases = await kit.start_cases(infra, token_issuer, ZHONGSHAN, items=(ITEM,))
    service = token_issuer.mint("service", "credentials:read", ["credentials"], sub="service:cases", service="cases")
    cases.app.state.credentials = httpx.AsyncClient(base_url=creds[ZHONGSHAN].url, timeout=15,
                                                    headers={"Accept-Language": "en"},
                                                    auth=BearerAuth(StaticToken(service)))
    http = httpx.AsyncClient(headers={"Accept-Language": "en"}, timeout=15)
    certificate = kit.DEPT + "009"

    def h(role, scopes, audience, **claims):
        return {"Authorization": "Bearer " + token_issuer.mint(role, scopes, audience, **claims)}

    def citizen(id_number, sub):
        return h("citizen", "cases:apply cases:read credentials:read", ["interop", "credentials", "cases"], sub=sub,
                 id_number=id_number, name="王五", real_name_level="verified")

    sz_admin = h("admin", "credentials:admin", ["credentials"], sub="sz-admin")
    sz_issuer = h("approver", "credentials:issue", ["credentials"], sub="sz-credit", department=SZ_CREDIT)
    zs_admin = h("admin", "credentials:admin", ["credentials"], sub="zs-admin")

    async def report_type(code, name):
        r = await http.post(f"{creds[SHENZHEN].url}{CRED}/licence-types", headers=sz_admin, json={
            "code": code, "name": name, "issuer_code": SZ_CREDIT, "issuer_name": "深圳市公共信用中心",
            "holder_type": "111", "validity": "given",
            "fields": [{"name": "subject_code", "type": "string", "max_length": 18},
                       {"name": "credit_level", "type": "string", "max_length": 2},
                       {"name": "black_list_entries", "type": "integer"},
                       {"name": "red_list_entries", "type": "integer"}]})
        assert r.status_code == 201, r.text

    async def report(holder, subject, level="A", black=0, type_code=REPORT, days=90):
        r = await http.post(f"{creds[SHENZHEN].url}{CRED}/licences", headers=sz_issuer, json={
            "type_code": type_code, "holder_id": holder, "holder_name": "王五",
            "valid_until": (clock.today() + dt.timedelta(days=days)).isoformat(),
            "data": {"subject_code": subject, "credit_level": level, "black_list_entries": black,
                     "red_list_entries": 1}})
        assert r.status_code == 201, r.text
        return r.json()

    async def consent(id_number, sub):
        r = await http.post(f"{creds[ZHONGSHAN].url}{CRED}/me/partner-consents", headers=citizen(id_number, sub),
                            json={"partner": SHENZHEN, "purpose": "在中山办事时出示深圳信用报告",
                                  "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()})
        assert r.status_code == 201, r.text
        return {"X-Holder-Consent": r.json()["token"]}

    async def present(id_number, sub, identifier, key, fields=None):
        body = {"purpose": "中山办件: 无违法违规证明"} | ({"fields": fields} if fields else {})
        r = await http.post(f"{urls[ZHONGSHAN]}{API}/partner-licences/{SHENZHEN}/{identifier}/presentations",
                            json=body, headers={**citizen(id_number, sub), **await consent(id_number, sub),
                                                "Idempotency-Key": key})
        assert r.status_code == 201, r.text
        forget_cached_keys()
        return r.json()["qr"]

    async def submit(id_number, sub, qr, type_code=None):
        material = {"name": "无违法违规证明", "licence_type_code": type_code or certificate, "presentation": qr}
        return await http.post(f"{cases.url}{CASES}/cases", headers=citizen(id_number, sub),
                               json={"basic_code": ITEM, "materials": [material]})

    def refused(r, refusal):
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
        problem = r.json()
        assert problem["code"] == "licence_not_usable" and problem["refusal"] == refusal, problem
        assert problem["errors"][0]["field"] == "materials[0].presentation"
        return problem

    try:
        token = admin["Authorization"].split()[1]
        await pair(http, urls[ZHONGSHAN], token, urls[SHENZHEN], f"{gw.url}/auth/token", "zs-at-sz")
        await pair(http, urls[SHENZHEN], token, urls[ZHONGSHAN], f"{gw.url}/auth/token", "sz-at-zs")
        await report_type(REPORT, "公共信用信息报告（无违法违规记录版）")
        await report_type(OTHER, "公共信用信息报告（简版）")
        clean = await report(HOLDER, HOLDER)
        list_id = clean["credential_status"]["status_list_credential"].rsplit("/", 1)[1]
        assert (await http.get(f"{creds[SHENZHEN].url}{CRED}/status-lists/{list_id}")).status_code == 200
        for here, there in ((urls[ZHONGSHAN], SHENZHEN), (urls[SHENZHEN], ZHONGSHAN)):
            r = await http.post(f"{here}{API}/partners/{there}/sync", headers=admin)
            assert r.status_code == 200 and {s["kind"]: s for s in r.json()}["issuer_keys"]["ok"] is True, r.text
        # Zhongshan says Shenzhen's credit report stands for its 无违法违规证明 (the existing mapping table).
        r = await http.post(f"{creds[ZHONGSHAN].url}{CRED}/licence-type-mappings",
                            headers={**zs_admin, "Idempotency-Key": "map-1"},
                            json={"region_code": SHENZHEN, "partner_type_code": REPORT,
                                  "partner_type_name": "公共信用信息报告", "our_type_code": certificate})
        assert r.status_code == 201, r.text

        # 1. A clean report of her own, presented through Zhongshan: the case is submitted with it.
        qr = await present(HOLDER, "zs-citizen", clean["identifier"], "show-1")
        r = await submit(HOLDER, "zs-citizen", qr)
        assert r.status_code == 201, r.text
        case = r.json()
        assert case["state"] in ("submitted", "approved"), case
        clerk = h("clerk", "cases:read cases:process", ["cases"], sub="zs-clerk", department=kit.DEPT)
        [m] = (await http.get(f"{cases.url}{CASES}/cases/{case['id']}/materials", headers=clerk)).json()["items"]
        assert (m["name"], m["kind"], m["licence_type_code"]) == ("无违法违规证明", "licence", certificate)
        assert m["licence_identifier"] == clean["identifier"] and m["verification"] == f"presentation-{SHENZHEN}"

        # 2. Forged: the signature replaced; altered: the shown level rewritten. Both `forged`.
        head, payload, signature = qr.split(".")
        fresh = await present(HOLDER, "zs-citizen", clean["identifier"], "show-2")
        refused(await submit(HOLDER, "zs-citizen", f"{head}.{payload}.{'A' * len(signature)}"), "forged")
        f_head, f_payload, f_sig = fresh.split(".")
        doc = json.loads(base64.urlsafe_b64decode(f_payload + "=" * (-len(f_payload) % 4)))
        doc["fields"]["credit_level"] = "A"
        doc["fields"]["black_list_entries"] = 0
        doc["fields"]["subject_code"] = NEIGHBOUR
        altered = base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).rstrip(b"=").decode()
        problem = refused(await submit(NEIGHBOUR, "zs-neighbour", f"{f_head}.{altered}.{f_sig}"), "forged")
        assert problem.get("case_id")           # kept as a draft, the refusal on its timeline
        timeline = (await http.get(f"{cases.url}{CASES}/cases/{problem['case_id']}/timeline",
                                   headers=clerk)).json()["items"]
        assert any(e["action"] == "submission_failed" and "forged" in (e.get("reason") or "") for e in timeline), \
            timeline

        # 3. Someone else's report (she presents her own, the neighbour submits it).
        refused(await submit(NEIGHBOUR, "zs-neighbour", fresh), "not_the_applicant")
        # 4. A report with a black-list entry, or level C: not clean.
        dirty = await report(NEIGHBOUR, NEIGHBOUR, level="C", black=1)
        refused(await submit(NEIGHBOUR, "zs-neighbour",
                             await present(NEIGHBOUR, "zs-neighbour", dirty["identifier"], "show-3")), "not_clean")
        # 5. A presentation hiding the black-list field; a type no mapping makes stand for ours.
        partial = await present(HOLDER, "zs-citizen", clean["identifier"], "show-4",
                                fields=["subject_code", "credit_level"])
        refused(await submit(HOLDER, "zs-citizen", partial), "fields_not_shown")
        short = await report(HOLDER, HOLDER, type_code=OTHER)
        refused(await submit(HOLDER, "zs-citizen", await present(HOLDER, "zs-citizen", short["identifier"],
                                                                 "show-5")), "wrong_type")
        # A presentation without the type it stands for (beside an upload, say), or not a TBP1 payload: 422.
        for material in ({"name": "无违法违规证明", "document_id": "00000000-0000-0000-0000-000000000001",
                          "presentation": partial},
                         {"name": "无违法违规证明", "licence_type_code": certificate, "presentation": "TBC1.x.y"}):
            r = await http.post(f"{cases.url}{CASES}/cases", headers=citizen(HOLDER, "zs-citizen"),
                                json={"basic_code": ITEM, "materials": [material]})
            assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
        # 6. Expired: a presentation handed in after its few minutes.
        late = await present(HOLDER, "zs-citizen", clean["identifier"], "show-6")
        with clock.pinned(clock.now() + dt.timedelta(minutes=10)):
            refused(await submit(HOLDER, "zs-citizen", late), "invalid")

        # 7. Expired: a report valid until today, presented today (Shenzhen's presentations made to
        # last three days here) and handed in two days later: its end of validity has passed.
        ending = await report(HOLDER, HOLDER, days=0)
        creds[SHENZHEN].app.state.settings.presentation_ttl_seconds = 3 * 86400
        lasting = await present(HOLDER, "zs-citizen", ending["identifier"], "show-7")
        with clock.pinned(clock.now() + dt.timedelta(days=2)):
            problem = refused(await submit(HOLDER, "zs-citizen", lasting), "expired")
        assert "the licence is expired" in problem["detail"]

        # Each refusal is logged by svc-cases (which report, why) ...
        assert sum("presentation refused" in m for m in refusals) == 8, refusals
        assert any("not_clean" in m and dirty["identifier"] in m for m in refusals), refusals
        # ... and each verification is audited at Zhongshan's svc-credentials, with its answer.
        auditor = h("auditor", "audit:read", ["credentials"])
        events = (await http.get(f"{creds[ZHONGSHAN].url}{CRED}/audit-events", params={"entity": "presentation",
                                                                                      "limit": 100},
                                 headers=auditor)).json()["items"]
        results = [e["detail"]["result"] for e in events if e["action"] == "presentation.verified"]
        assert results.count("forged") == 2 and results.count("expired") == 1 and results.count("valid") >= 4, results
    finally:
        logging.getLogger("tongban.cases.material").removeHandler(collect)
        await http.aclose()
        await cases.app.state.credentials.aclose()
        for served in (cases, *cities.values(), *creds.values(), gw):
            await served.stop()
