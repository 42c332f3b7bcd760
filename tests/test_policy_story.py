"""Policies that find the company and credit that changes handling, end to end through the gateway
(issue 22). Every process is real: gateway, svc-catalog, svc-cases and svc-credentials under
uvicorn; the licences come to svc-cases as svc-credentials' events over NATS.

A Zhongshan company holding a food-business licence sees the policy it qualifies for and why,
applies with one tap and is approved at once (即申即享); a 免申即享 policy published afterwards
reaches every eligible company without an application and stops at its budget; each grant is
told to the company in its inbox (the gateway's notifications), asking for its bank account; a
budget raise (a new version of the policy) reaches the companies the budget left out; a closed
policy takes no more applications; a company whose commitment was found untrue is black-listed
and refused 告知承诺制 after.

A Shenzhen credit report standing in for a certificate needs two cities: it is told through both
gateways, for a company's report, in tests/test_credit_report_story.py (and for a person's, with
every refusal, in svc-interop/tests/test_partner_credit_report.py)."""

import datetime as dt

import httpx
import pytest
from tongban.cases.main import SERVICE as CASES
from tongban.catalog.main import SERVICE as CATALOG
from tongban.gateway import seed as gateway_seed
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.shared import clock
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.ids import credit_code_check_char
from tongban.shared.testing.plugin import platform_processes, wait_for

D1 = "11442000MB0000002B"                    # the seeded approver's department (市场监督管理局)
COMPANY = "91442000MA4W12346R"               # the seeded company
FOOD = "11100000000019238J002"               # 食品经营许可证
ITEM = "442020000921"                        # an item approved on commitment (告知承诺制)
SUBSIDY = "442020000922"                     # the benefit item the policies' cases are of
OTHERS = [b + credit_code_check_char(b) for b in (f"91442000MA4W2{n:04d}" for n in range(3))]


@pytest.fixture
async def gateway_url(infra, clean_nats, tmp_path, monkeypatch):
    from tongban.credentials import seed as credentials_seed
    from tongban.credentials.main import SERVICE as CREDENTIALS

    definitions = [GATEWAY, CATALOG, CASES, CREDENTIALS]
    urls = {d.name: infra.fresh_database(d) for d in definitions}
    keys = {"CREDENTIALS_KEY_DIR": str(tmp_path / "keys"), "CREDENTIALS_KEY_PASSPHRASE": "story-passphrase"}
    for k, v in keys.items():
        monkeypatch.setenv(k, v)
    engine = make_engine(urls["gateway"], 2)
    await gateway_seed.seed(make_sessionmaker(engine))
    await engine.dispose()
    engine = make_engine(urls["credentials"], 2)
    await credentials_seed.seed(make_sessionmaker(engine))
    await engine.dispose()
    async with platform_processes(infra, definitions, urls, tmp_path,
                                  extra=lambda name, at: keys if name == "credentials" else {}) as at:
        yield at["gateway"]


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def policy(name: str, mode: str, eligibility: list[dict], budget: int) -> dict:
    today = clock.today()   # the services run on the same shared clock (China date), unpinned
    return {"name": name, "kind": "subsidy", "subject_type": "company", "mode": mode, "basic_code": SUBSIDY,
            "department": D1, "eligibility": eligibility, "amount": {"fixed": 5000},
            "starts_on": str(today - dt.timedelta(days=1)), "ends_on": str(today + dt.timedelta(days=180)),
            "budget": budget}


async def test_policies_find_the_company_and_credit_changes_handling(gateway_url):
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=gateway_url, timeout=20) as client:
        admin = await login(client, "admin", "Admin#2026")
        company = await login(client, "company", "Company#2026")
        clerk = await login(client, "clerk", "Clerk#2026")
        approver = await login(client, "approver", "Approver#2026")
        cases, credentials = "/api/v1/cases", "/api/v1/credentials"

        # Food-business licences: three other companies first, ours last (one stream, in order).
        for holder in (*OTHERS, COMPANY):
            r = await client.post(f"{credentials}/licences", headers=admin, json={
                "type_code": FOOD, "holder_id": holder, "holder_name": f"餐饮公司{holder[-4:]}",
                "data": {"operator_name": "餐饮公司", "business_items": "热食类食品制售", "premises": "中山市石岐街道"}})
            assert r.status_code == 201, r.text

        # A bad rule is refused at configuration.
        r = await client.post(f"{cases}/benefit-policies", headers=admin, json=policy(
            "坏规则", "apply", [{"fact": "company.favourite_colour", "op": "eq", "value": "红"}], 1000))
        assert r.status_code == 422 and r.json()["code"] == "rule_invalid"

        # 即申即享: food business in Zhongshan's Shiqi district.
        one_tap = policy("餐饮业纾困补贴", "apply", [{"fact": f"licence.{FOOD}", "op": "present"},
                                                 {"fact": "company.district", "op": "in",
                                                  "value": ["石岐街道", "东区街道"]}], 100_000)
        r = await client.post(f"{cases}/benefit-policies", headers=admin | {"Idempotency-Key": "story-p1"}, json=one_tap)
        assert r.status_code == 201, r.text
        p1 = r.json()["id"]
        assert (await client.post(f"{cases}/benefit-policies/{p1}/publish", headers=admin)).status_code == 200

        async def licence_known():
            facts = (await client.get(f"{cases}/benefit-facts", headers=company)).json()["facts"]
            return any(f["name"] == f"licence.{FOOD}" and f["source"] == "licence" for f in facts) or None

        await wait_for(licence_known, timeout=20)
        near = (await client.get(f"{cases}/benefit-matches", headers=company)).json()["near"]
        assert [m["name"] for m in near] == ["餐饮业纾困补贴"]
        assert any(m.startswith("company.district") for m in near[0]["missing"])
        r = await client.put(f"{cases}/benefit-facts", headers=company, json={"facts": {"company.district": "石岐街道"}})
        assert r.status_code == 200, r.text
        eligible = (await client.get(f"{cases}/benefit-matches", headers=company)).json()["eligible"]
        assert [m["name"] for m in eligible] == ["餐饮业纾困补贴"]
        assert f"licence.{FOOD} present" in eligible[0]["matched"]

        r = await client.post(f"{cases}/benefit-policies/{p1}/applications", headers=company | {"Idempotency-Key": "t1"},
                              json={})
        assert r.status_code == 201, r.text
        case_id = r.json()["case_id"]
        case = (await client.get(f"{cases}/cases/{case_id}", headers=company)).json()
        assert case["state"] == "approved"
        verdict = (await client.get(f"{cases}/cases/{case_id}/timeline", headers=company)).json()["items"][-1]
        assert verdict["action"] == "approve" and verdict["actor"] == "system:benefit-rules"
        assert f"licence.{FOOD} present" in verdict["detail"]["matched"]

        # 免申即享 published afterwards: every food business, budget for two of the four.
        auto = policy("食品安全提升奖励", "auto", [{"fact": f"licence.{FOOD}", "op": "present"}], 10_000)
        p2 = (await client.post(f"{cases}/benefit-policies", headers=admin, json=auto)).json()["id"]
        r = await client.post(f"{cases}/benefit-policies/{p2}/publish", headers=admin)
        assert r.status_code == 200, r.text
        out = r.json()
        assert (out["eligible"], out["granted"], out["budget_exhausted"]) == (4, 2, True)
        assert out["policy"]["budget_used"] == out["policy"]["budget_total"] == 10_000
        grants = (await client.get(f"{cases}/benefit-grants", headers=approver, params={"policy_id": p2})).json()
        assert grants["total"] == 2 and {g["mode"] for g in grants["items"]} == {"auto"}
        for g in grants["items"]:
            steps = (await client.get(f"{cases}/cases/{g['case_id']}/timeline", headers=approver)).json()["items"]
            assert [s["action"] for s in steps] == ["submit", "approve"] and steps[0]["actor"] == "system:benefit-rules"

        # The company is told of both grants in its inbox, each asking for its bank account.
        async def told(kind: str):
            r = await client.get("/api/v1/gateway/notify/inbox", params={"limit": 100}, headers=company)
            found = [m for m in r.json()["items"] if m["kind"] == kind]
            return found or None

        approved = (await wait_for(lambda: told("benefit.approved"), timeout=30))[0]
        assert "餐饮业纾困补贴" in approved["body"] and "收款银行账户" in approved["body"]
        granted = (await wait_for(lambda: told("benefit.granted"), timeout=30))[0]
        assert "食品安全提升奖励" in granted["body"] and "5000元" in granted["body"]

        # A budget raise is a new version: the two companies the budget left out get it now.
        r = await client.patch(f"{cases}/benefit-policies/{p2}", headers=admin,
                               json={"reason": "追加预算", "budget": 20_000})
        assert r.status_code == 200, r.text
        assert (r.json()["policy"]["version"], r.json()["granted"], r.json()["budget_exhausted"]) == (2, 2, False)
        grants = (await client.get(f"{cases}/benefit-grants", headers=approver, params={"policy_id": p2})).json()
        assert sorted(g["policy_version"] for g in grants["items"]) == [1, 1, 2, 2]
        # Closed: the one-tap policy no longer shows, nor takes applications; its grant stays.
        r = await client.post(f"{cases}/benefit-policies/{p1}/close", headers=admin, json={"reason": "资金用完"})
        assert r.status_code == 200 and r.json()["state"] == "closed", r.text
        assert p1 not in {m["policy_id"] for m in (await client.get(f"{cases}/benefit-matches",
                                                                    headers=company)).json()["eligible"]}
        assert (await client.post(f"{cases}/benefit-policies/{p1}/close", headers=admin,
                                  json={"reason": "again"})).status_code == 409
        assert (await client.get(f"{cases}/benefit-grants", headers=company,
                                 params={"policy_id": p1})).json()["total"] == 1

        # Credit: a commitment found untrue black-lists the company; its next commitment is refused.
        r = await client.post("/api/v1/catalog/items", headers=admin, json={
            "basic_code": ITEM, "name": "食品经营许可变更（告知承诺）", "exercise_level": 4, "case_type": "promised",
            "promised_limit": 5, "promised_limit_unit": "working_day", "implementing_body_credit_code": D1})
        assert r.status_code == 201, r.text
        if r.json().get("status") != "published":
            assert (await client.post(f"/api/v1/catalog/items/{r.json()['id']}/publish", headers=admin)).status_code == 200

        async def copied():
            page = (await client.get(f"{cases}/items", params={"limit": 100})).json()
            return ITEM in {i["basic_code"] for i in page["items"]} or None

        await wait_for(copied, timeout=20)
        credit = (await client.get(f"{cases}/credit-records/{COMPANY}", headers=company)).json()
        assert credit["commitment_allowed"] is True

        async def committed() -> str:
            r = await client.post(f"{cases}/cases", headers=company, json={"basic_code": ITEM, "commitment_signed": True})
            assert r.status_code == 201, r.text
            assert (await client.post(f"{cases}/cases/{r.json()['id']}/accept", headers=clerk, json={})).status_code == 200
            return r.json()["id"]

        first = await committed()
        r = await client.post(f"{cases}/cases/{first}/approve", headers=approver, json={"commitment": True})
        assert r.status_code == 200 and r.json()["commitment_approval"] is True, r.text
        check = (await client.get(f"{cases}/commitment-checks", headers=approver)).json()["items"][0]
        r = await client.post(f"{cases}/commitment-checks/{check['id']}/outcome", headers=approver,
                              json={"kept": False, "reason": "现场核查：经营场所与承诺不符"})
        assert r.status_code == 200 and r.json()["state"] == "broken", r.text
        credit = (await client.get(f"{cases}/credit-records/{COMPANY}", headers=company)).json()
        assert credit["commitment_allowed"] is False and credit["entries"][0]["list"] == "black"
        second = await committed()
        r = await client.post(f"{cases}/cases/{second}/approve", headers=approver, json={"commitment": True})
        assert r.status_code == 409 and r.json()["code"] == "commitment_refused", r.text
