"""Benefit policies (免申即享 / 即申即享) and credit (信用) in svc-cases: rules checked at
configuration, matching with reasons, one-tap grants decided by the rules, grants without an
application on publish and on a fact change, a budget never exceeded under concurrency, and a
broken commitment black-listing its subject so the next commitment is refused."""

import asyncio
import datetime as dt
import uuid

from sqlalchemy import func, select, update

from tongban.cases.benefit import licences, registry
from tongban.cases.benefit.models import BenefitPolicyVersion
from tongban.cases.case.models import Case
from tongban.cases import checker
from tongban.cases.db import platform
from tongban.cases.main import SERVICE
from tongban.shared import clock
from tongban.shared.contracts.credentials import LICENCE_ISSUED, LICENCE_REVOKED, LicenceIssuedV1, LicenceStatusChangedV1
from tongban.shared.contracts.cases import CASE_APPROVED, CASE_REVOKED, CaseApprovedV1, CaseTransitionedV1
from tongban.shared.events.envelope import Envelope, make_event
from tongban.shared.ids import credit_code_check_char
from tongban.shared.testing.plugin import running_service

API = "/api/v1/cases"
BENEFIT_ITEM = "442020000950"
FOOD = "11100000000013338W002"


def policy(today: dt.date, dept: str, **over):
    body = {"name": "餐饮小微企业补贴", "kind": "subsidy", "subject_type": "company", "mode": "apply",
            "basic_code": BENEFIT_ITEM, "department": dept,
            "eligibility": [{"fact": f"licence.{FOOD}", "op": "present"},
                            {"fact": "company.district", "op": "eq", "value": "石岐街道"},
                            {"rule": "small"}],
            "definitions": {"small": {"mode": "any", "conditions": [{"fact": "company.size", "op": "in",
                                                                      "value": ["micro", "small"]},
                                                                     {"fact": "company.employees", "op": "lt",
                                                                      "value": 20}]}},
            "amount": {"fixed": 1000}, "starts_on": str(today - dt.timedelta(days=1)),
            "ends_on": str(today + dt.timedelta(days=90)), "budget": 2500}
    return body | over


async def test_policies_and_credit(infra, token_issuer, tokens, kit, clean_nats):
    with clock.pinned(dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)):
        today = clock.today()
        async with running_service(SERVICE, infra, token_issuer) as client:
            admin = tokens.admin()
            # --- configuration: bad rules are 422, a citizen may not configure --------------------
            base = policy(today, kit.DEPT)
            for bad, field in (({"eligibility": [{"fact": "company.colour", "op": "eq", "value": "red"}]}, "eligibility[0]"),
                               ({"definitions": {"small": {"conditions": [{"rule": "small"}]}}}, "definitions.small"),
                               ({"budget": -1}, "budget"),
                               ({"ends_on": str(today - dt.timedelta(days=5))}, "ends_on")):
                r = await client.post(f"{API}/benefit-policies", headers=admin, json=base | bad)
                assert r.status_code == 422, r.text
                assert r.json()["errors"][0]["field"].startswith(field), r.json()
            assert (await client.post(f"{API}/benefit-policies", headers=tokens.citizen(), json=base)).status_code == 403
            r = await client.post(f"{API}/benefit-policies", headers=admin | {"Idempotency-Key": "p-1"}, json=base)
            assert r.status_code == 201, r.text
            one_tap = r.json()["id"]
            assert (await client.post(f"{API}/benefit-policies/{one_tap}/publish", headers=admin)).status_code == 200

            # --- facts: a licence from svc-credentials' event, the rest declared -------------------
            firm = tokens.company()
            async with client.app.state.sessionmaker() as s, s.begin():
                await licences.on_licence_event(s, make_event("credentials", LICENCE_ISSUED, LicenceIssuedV1(
                    licence_id=uuid.uuid4(), identifier="JY1", type_code=FOOD, issuer_code="x", version=1,
                    holder_type="001", holder_id=kit.COMPANY, valid_from=today)))
            assert (await client.get(f"{API}/benefit-matches", headers=firm)).json()["near"] == []  # two short
            r = await client.put(f"{API}/benefit-facts", headers=firm, json={"facts": {"company.size": "micro"}})
            assert r.status_code == 200, r.text
            r = await client.get(f"{API}/benefit-matches", headers=firm)
            near = r.json()["near"]
            assert r.json()["eligible"] == [] and len(near) == 1
            assert "company.district eq 石岐街道 (not known)" in near[0]["missing"]
            assert f"licence.{FOOD} present" in near[0]["matched"]
            r = await client.put(f"{API}/benefit-facts", headers=firm,
                                 json={"facts": {"company.district": "石岐街道"}})
            assert r.status_code == 200, r.text
            sources = {f["name"]: f["source"] for f in r.json()["facts"]}
            assert sources == {f"licence.{FOOD}": "licence", "company.district": "declared", "company.size": "declared"}
            bad = await client.put(f"{API}/benefit-facts", headers=firm, json={"facts": {"credit.level": "A"}})
            assert bad.status_code == 422
            matches = (await client.get(f"{API}/benefit-matches", headers=firm)).json()
            assert [m["name"] for m in matches["eligible"]] == ["餐饮小微企业补贴"]
            assert "rule small" in matches["eligible"][0]["matched"]

            # --- 即申即享: one tap, approved by the rules, the verdict on the timeline ----------------
            r = await client.post(f"{API}/benefit-policies/{one_tap}/applications", headers=firm, json={})
            assert r.status_code == 201, r.text
            case_id = r.json()["case_id"]
            case = (await client.get(f"{API}/cases/{case_id}", headers=firm)).json()
            assert case["state"] == "approved" and case["applicant_id"] == kit.COMPANY
            timeline = (await client.get(f"{API}/cases/{case_id}/timeline", headers=firm)).json()["items"]
            assert [e["action"] for e in timeline] == ["submit", "approve"]
            assert timeline[1]["detail"]["matched"] and timeline[1]["actor"] == "system:benefit-rules"
            again = await client.post(f"{API}/benefit-policies/{one_tap}/applications", headers=firm, json={})
            assert again.status_code == 409 and again.json()["code"] == "already_granted"
            r = await client.get(f"{API}/benefit-matches", headers=firm, params={"subject": "91440300MA5FXXXX0X"})
            assert r.status_code == 403 and r.json()["code"] == "not_owner"

            # Concurrent one-tap applications: the budget (2500, 1000 each) grants one more, never two.
            firms = [code(f"91442000MA4UH{n:04d}") for n in range(6)]
            for c in firms:
                await give_food_licence(client, c, today)
                r = await client.put(f"{API}/benefit-facts", headers=tokens.company(c),
                                     json={"facts": {"company.district": "石岐街道", "company.employees": 5}})
                assert r.status_code == 200, r.text
            answers = await asyncio.gather(*(client.post(f"{API}/benefit-policies/{one_tap}/applications",
                                                         headers=tokens.company(c), json={}) for c in firms))
            codes = sorted(a.status_code for a in answers)
            assert codes == [201] + [409] * 5, [a.text for a in answers]
            assert {a.json()["code"] for a in answers if a.status_code == 409} == {"budget_exhausted"}
            got = (await client.get(f"{API}/benefit-policies/{one_tap}", headers=firm)).json()
            assert got["budget_used"] == 2000 and got["budget_total"] == 2500

            # --- 免申即享: publishing evaluates every company once and stops at the budget -----------
            auto = policy(today, kit.DEPT, name="石岐街道稳岗补贴", mode="auto", budget=3000,
                          eligibility=[{"fact": "company.district", "op": "eq", "value": "石岐街道"}], definitions={})
            pid = (await client.post(f"{API}/benefit-policies", headers=admin, json=auto)).json()["id"]
            r = await client.post(f"{API}/benefit-policies/{pid}/publish", headers=admin)
            assert r.status_code == 200, r.text
            out = r.json()
            assert (out["evaluated"], out["eligible"], out["granted"], out["budget_exhausted"]) == (7, 7, 3, True)
            assert out["policy"]["budget_used"] == 3000
            grants = (await client.get(f"{API}/benefit-grants", headers=tokens.approver(),
                                       params={"policy_id": pid})).json()
            assert grants["total"] == 3 and {g["mode"] for g in grants["items"]} == {"auto"}
            # Written in bulk: every granted case has its approval in the audit trail and the outbox.
            case_ids = [g["case_id"] for g in grants["items"]]
            async with client.app.state.sessionmaker() as s:
                audited = (await s.execute(select(func.count()).select_from(platform.audit_event).where(
                    platform.audit_event.c.action == "case.approve",
                    platform.audit_event.c.entity_id.in_(case_ids)))).scalar_one()
                events = (await s.execute(select(platform.outbox.c.envelope).where(
                    platform.outbox.c.subject == "cases.case.approved"))).scalars().all()
            assert audited == 3
            assert set(case_ids) <= {e["data"]["case_id"] for e in events}
            assert (await client.get(f"{API}/benefit-grants", headers=tokens.approver(kit.OTHER_DEPT),
                                     params={"policy_id": pid})).json()["total"] == 0
            assert (await client.post(f"{API}/benefit-policies/{pid}/publish", headers=admin)).status_code == 409

            # The grantee says where to pay (masked in every answer); nobody else may.
            theirs = grants["items"][0]
            url = f"{API}/benefit-grants/{theirs['id']}/bank-account"
            account = {"bank_name": "中国工商银行中山分行", "bank_account": "6222020000001234567"}
            owner = tokens.company(theirs["subject_id"])
            r = await client.put(url, headers=owner, json=account)
            assert r.status_code == 200 and r.json()["bank_account"] == "***************4567", r.text
            stranger = code("91442000MA4UH9999")
            assert (await client.put(url, headers=tokens.company(stranger), json=account)).status_code == 404

            # A fact change re-evaluates that company only, against open 免申即享 policies.
            roomy = auto | {"name": "新迁入企业奖励", "budget": 100_000,
                            "eligibility": [{"fact": "company.district", "op": "eq", "value": "东区街道"}]}
            pid2 = (await client.post(f"{API}/benefit-policies", headers=admin, json=roomy)).json()["id"]
            assert (await client.post(f"{API}/benefit-policies/{pid2}/publish", headers=admin)).json()["granted"] == 0
            r = await client.put(f"{API}/benefit-facts", headers=tokens.company(firms[0]),
                                 json={"facts": {"company.district": "东区街道"}})
            assert r.json()["regranted"] == 1
            mine = (await client.get(f"{API}/benefit-grants", headers=tokens.company(firms[0]),
                                     params={"policy_id": pid2})).json()["items"]
            assert len(mine) == 1 and mine[0]["subject_id"] == firms[0]
            # The same declaration again changes nothing and grants nothing twice.
            r = await client.put(f"{API}/benefit-facts", headers=tokens.company(firms[0]),
                                 json={"facts": {"company.district": "东区街道"}})
            assert r.json()["regranted"] == 0

            # A revoked licence is no longer a fact.
            async with client.app.state.sessionmaker() as s, s.begin():
                await licences.on_licence_event(s, make_event("credentials", LICENCE_REVOKED, LicenceStatusChangedV1(
                    licence_id=LICENCES[firms[1]], identifier="JY", status="revoked", reason="注销")))
            facts = (await client.get(f"{API}/benefit-facts", headers=tokens.company(firms[1]))).json()["facts"]
            assert f"licence.{FOOD}" not in {f["name"] for f in facts}

            # A holder of two licences of one type keeps the fact until the second goes too.
            second, third = uuid.uuid4(), uuid.uuid4()

            async def licence_event(kind: str, data) -> None:
                async with client.app.state.sessionmaker() as s, s.begin():
                    await licences.on_licence_event(s, make_event("credentials", kind, data))

            for lid in (second, third):
                await licence_event(LICENCE_ISSUED, LicenceIssuedV1(
                    licence_id=lid, identifier=f"JY-{lid.hex[:6]}", type_code=FOOD, issuer_code="x", version=1,
                    holder_type="001", holder_id=firms[1], valid_from=today))

            async def holds_food() -> bool:
                r = await client.get(f"{API}/benefit-facts", headers=tokens.company(firms[1]))
                return f"licence.{FOOD}" in {f["name"] for f in r.json()["facts"]}

            assert await holds_food()
            await licence_event(LICENCE_REVOKED, LicenceStatusChangedV1(
                licence_id=second, identifier="JY", status="revoked", reason="注销"))
            assert await holds_food()
            await licence_event(LICENCE_REVOKED, LicenceStatusChangedV1(
                licence_id=third, identifier="JY", status="revoked", reason="注销"))
            assert not await holds_food()

            # --- credit: a broken commitment black-lists; the next commitment is refused ------------
            await kit.publish_item(client)
            citizen = tokens.citizen()
            r = await client.get(f"{API}/credit-records/{kit.ADULT}", headers=citizen)
            assert r.status_code == 200 and r.json()["level"] == "B" and r.json()["commitment_allowed"] is True
            assert (await client.get(f"{API}/credit-records/{kit.OTHER_ADULT}", headers=citizen)).status_code == 403
            good = (await client.get(f"{API}/credit-records/{kit.COMPANY}", headers=tokens.clerk())).json()
            assert good["level"] == "A" and good["waives_gaps"] is True

            async def committed_case() -> str:
                r = await client.post(f"{API}/cases", headers=citizen,
                                      json={"basic_code": kit.ITEM, "commitment_signed": True})
                assert r.status_code == 201, r.text
                cid = r.json()["id"]
                r = await client.post(f"{API}/cases/{cid}/accept", headers=tokens.clerk(), json={})
                assert r.status_code == 200, r.text
                return cid

            first = await committed_case()
            r = await client.post(f"{API}/cases/{first}/approve", headers=tokens.approver(), json={"commitment": True})
            assert r.status_code == 200 and r.json()["commitment_approval"] is True, r.text
            checks = (await client.get(f"{API}/commitment-checks", headers=tokens.approver())).json()["items"]
            assert len(checks) == 1 and checks[0]["due_on"] == str(today + dt.timedelta(days=30))
            check_id = checks[0]["id"]
            r = await client.post(f"{API}/commitment-checks/{check_id}/outcome", headers=tokens.approver(kit.OTHER_DEPT),
                                  json={"kept": False, "reason": "x"})
            assert r.status_code == 403 and r.json()["code"] == "outside_scope"
            r = await client.post(f"{API}/commitment-checks/{check_id}/outcome", headers=tokens.approver(),
                                  json={"kept": False, "reason": "现场核查无经营场所"})
            assert r.status_code == 200 and r.json()["state"] == "broken", r.text
            assert (await client.get(f"{API}/cases/{first}", headers=citizen)).json()["state"] == "revoked"
            record = (await client.get(f"{API}/credit-records/{kit.ADULT}", headers=citizen)).json()
            assert record["effective_level"] == "D" and record["commitment_allowed"] is False
            assert record["entries"][0]["list"] == "black" and record["entries"][0]["source"] == "告知承诺核查"

            # Good credit (level A on the platform) waives the 容缺 material the item names.
            await kit.publish_item(client, "442020000960", materials=[{"name": "场地证明", "required": True,
                                                                      "accept_with_gaps": True}])
            firm_case = (await client.post(f"{API}/cases", headers=firm, json={"basic_code": "442020000960"})).json()
            assert firm_case["missing_materials"] == ["场地证明"]
            r = await client.post(f"{API}/cases/{firm_case['id']}/accept", headers=tokens.clerk(), json={})
            assert r.status_code == 200 and r.json()["gaps"] is None and r.json()["missing_materials"] is None, r.text
            steps = (await client.get(f"{API}/cases/{firm_case['id']}/timeline", headers=firm)).json()["items"]
            assert steps[1]["action"] == "waive_gaps" and steps[1]["detail"]["waived"] == ["场地证明"]
            # ... the black-listed citizen's 容缺 material is not waived: the clerk names it as a gap.
            r = await client.post(f"{API}/cases", headers=citizen, json={"basic_code": "442020000960"})
            r = await client.post(f"{API}/cases/{r.json()['id']}/accept", headers=tokens.clerk(), json={})
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "gaps"

            second = await committed_case()
            r = await client.post(f"{API}/cases/{second}/approve", headers=tokens.approver(), json={"commitment": True})
            assert r.status_code == 409 and r.json()["code"] == "commitment_refused", r.text
            assert (await client.get(f"{API}/cases/{second}", headers=citizen)).json()["state"] == "accepted"


LICENCES: dict[str, uuid.UUID] = {}


def code(body: str) -> str:
    return body + credit_code_check_char(body)


async def give_food_licence(client, holder: str, today: dt.date) -> None:
    LICENCES[holder] = uuid.uuid4()
    async with client.app.state.sessionmaker() as s, s.begin():
        await licences.on_licence_event(s, make_event("credentials", LICENCE_ISSUED, LicenceIssuedV1(
            licence_id=LICENCES[holder], identifier=f"JY{holder}", type_code=FOOD, issuer_code="x", version=1,
            holder_type="001", holder_id=holder, valid_from=today)))


def test_rules_read_facts_as_configured() -> None:
    from tongban.cases.benefit import rules  # noqa: PLC0415

    conds = [rules.Condition(fact="company.employees", op="gte", value=10),
             rules.Condition(fact=f"licence.{FOOD}", op="present"), rules.Condition(rule="where")]
    defs = {"where": rules.Definition(mode="any", conditions=[
        rules.Condition(fact="company.district", op="in", value=["石岐街道"]),
        rules.Condition(fact="company.size", op="eq", value="micro")])}
    checks, test = rules.compile_checks(conds, defs), rules.compile_rule(conds, defs)
    yes = {"company.employees": 12, f"licence.{FOOD}": True, "company.size": "micro"}
    assert test(yes) and rules.evaluate(checks, yes).eligible
    # Text where a number is compared, a licence taken away, nothing known: no error, no match.
    for no in ({**yes, "company.employees": "many"}, {**yes, f"licence.{FOOD}": False}, {}):
        assert not test(no) and not rules.evaluate(checks, no).eligible
    near = rules.shortfall(checks, {**yes, "company.employees": 3}, 1)
    assert near is not None and near.missing == ["company.employees gte 10"]
    assert rules.shortfall(checks, {}, 1) is None
    assert rules.evaluate(checks, {}).missing[0] == "company.employees gte 10 (not known)"
    assert rules.known_facts({"company.established_on": "2020-06-01"}, dt.date(2026, 5, 31))["company.age_years"] == 5


async def test_policies_amended_and_closed(infra, token_issuer, tokens, kit, clean_nats):
    """A published policy amended in versions (re-evaluated; grants made stay under theirs), closed
    (no grant after, matches drop it), with 409 for what its state forbids, 422 for bad values,
    every change audited, and the budget never passed while applications race an amendment."""
    with clock.pinned(dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)):
        today = clock.today()
        async with running_service(SERVICE, infra, token_issuer) as client:
            admin = tokens.admin()
            west = [code(f"91442000MA4UJ{n:04d}") for n in range(3)]
            south = code("91442000MA4UJ0100")
            for c, district in [(c, "西区街道") for c in west] + [(south, "南区街道")]:
                r = await client.put(f"{API}/benefit-facts", headers=tokens.company(c),
                                     json={"facts": {"company.district": district}})
                assert r.status_code == 200, r.text
            auto = policy(today, kit.DEPT, name="西区稳岗补贴", mode="auto", budget=1000, definitions={},
                          eligibility=[{"fact": "company.district", "op": "eq", "value": "西区街道"}])
            pid = (await client.post(f"{API}/benefit-policies", headers=admin, json=auto)).json()["id"]
            out = (await client.post(f"{API}/benefit-policies/{pid}/publish", headers=admin)).json()
            assert (out["granted"], out["budget_exhausted"], out["policy"]["version"]) == (1, True, 1)
            url = f"{API}/benefit-policies/{pid}"

            # --- bad amendments: 422 naming the field, nothing changed ---------------------------
            for bad, field in (({"budget": 500}, "budget"),
                               ({"eligibility": [{"fact": "company.colour", "op": "eq", "value": "red"}]},
                                "eligibility[0]"),
                               ({"ends_on": str(today - dt.timedelta(days=3))}, "ends_on"),
                               ({"budget": -1}, "budget"), ({"mode": "apply"}, "mode"), ({}, "reason")):
                r = await client.patch(url, headers=admin, json={"reason": "调整"} | bad if field != "reason" else bad)
                assert r.status_code == 422, (bad, r.text)
                assert r.json()["errors"][0]["field"].startswith(field), r.json()
            assert (await client.patch(url, headers=tokens.citizen(), json={"reason": "x", "budget": 9})).status_code == 403
            assert (await client.get(url, headers=admin)).json()["version"] == 1

            # --- a budget raise: a new version, evaluated again, the first grant stays under v1 -----
            r = await client.patch(url, headers=admin, json={"reason": "追加预算", "budget": 3000})
            assert r.status_code == 200, r.text
            assert (r.json()["policy"]["version"], r.json()["granted"], r.json()["budget_exhausted"]) == (2, 2, False)
            assert r.json()["policy"]["budget_used"] == 3000
            grants = (await client.get(f"{API}/benefit-grants", headers=admin, params={"policy_id": pid})).json()
            assert sorted(g["policy_version"] for g in grants["items"]) == [1, 2, 2]
            assert {g["subject_id"] for g in grants["items"]} == set(west)
            # Text alone: a version, nobody evaluated. The same values again: no version at all.
            r = await client.patch(url, headers=admin, json={"reason": "更名", "name": "西区稳岗补贴（2027）"})
            assert (r.json()["policy"]["version"], r.json()["evaluated"]) == (3, 0)
            r = await client.patch(url, headers=admin, json={"reason": "重复", "name": "西区稳岗补贴（2027）"})
            assert r.status_code == 200 and r.json()["policy"]["version"] == 3
            # New rules (and a longer period): the southern company now qualifies and gets it.
            matches = (await client.get(f"{API}/benefit-matches", headers=tokens.company(south))).json()
            assert pid not in {m["policy_id"] for m in matches["eligible"]}
            r = await client.patch(url, headers=admin, json={
                "reason": "扩大范围", "budget": 5000, "ends_on": str(today + dt.timedelta(days=365)),
                "eligibility": [{"fact": "company.district", "op": "in", "value": ["西区街道", "南区街道"]}]})
            assert r.status_code == 200, r.text
            assert (r.json()["policy"]["version"], r.json()["evaluated"], r.json()["granted"]) == (4, 4, 1)
            matches = (await client.get(f"{API}/benefit-matches", headers=tokens.company(south))).json()
            assert [(m["policy_id"], m["granted"]) for m in matches["eligible"]] == [(pid, True)]

            # --- closing: existing grants stay; no grant after; matches drop it; 409 thereafter -----
            late = code("91442000MA4UJ0200")
            r = await client.post(f"{url}/close", headers=admin, json={"reason": "政策到期提前收回"})
            assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["close_reason"], r.text
            assert (await client.post(f"{url}/close", headers=admin, json={"reason": "again"})).json()["code"] \
                == "benefit_policy_not_open"
            assert (await client.patch(url, headers=admin, json={"reason": "x", "budget": 9000})).status_code == 409
            assert (await client.post(f"{url}/publish", headers=admin)).status_code == 409
            r = await client.put(f"{API}/benefit-facts", headers=tokens.company(late),
                                 json={"facts": {"company.district": "西区街道"}})
            assert r.json()["regranted"] == 0
            matches = (await client.get(f"{API}/benefit-matches", headers=tokens.company(south))).json()
            assert pid not in {m["policy_id"] for m in matches["eligible"] + matches["near"]}
            assert (await client.get(f"{API}/benefit-grants", headers=admin, params={"policy_id": pid})).json()["total"] == 4
            # A draft is withdrawn the same way.
            draft = (await client.post(f"{API}/benefit-policies", headers=admin, json=auto)).json()["id"]
            r = await client.post(f"{API}/benefit-policies/{draft}/close", headers=admin, json={"reason": "撤回"})
            assert r.status_code == 200 and r.json()["published_at"] is None

            # --- 即申即享 applications racing an amendment of the budget and then a closing ---------
            one_tap = policy(today, kit.DEPT, name="西区即申即享", budget=3000, definitions={},
                             eligibility=[{"fact": "company.district", "op": "in", "value": ["西区街道", "南区街道"]}])
            tap = (await client.post(f"{API}/benefit-policies", headers=admin, json=one_tap)).json()["id"]
            assert (await client.post(f"{API}/benefit-policies/{tap}/publish", headers=admin)).status_code == 200
            applicants = [*west, south, late]
            answers = await asyncio.gather(
                *(client.post(f"{API}/benefit-policies/{tap}/applications", headers=tokens.company(c), json={})
                  for c in applicants),
                client.patch(f"{API}/benefit-policies/{tap}", headers=admin, json={"reason": "压缩预算", "budget": 2000}))
            amended = answers[-1]
            assert amended.status_code in (200, 422), amended.text
            got = (await client.get(f"{API}/benefit-policies/{tap}", headers=admin)).json()
            granted = sum(a.status_code == 201 for a in answers[:-1])
            assert got["budget_used"] == granted * 1000 <= got["budget_total"]
            assert {a.json()["code"] for a in answers[:-1] if a.status_code != 201} <= {"budget_exhausted"}
            closing = await asyncio.gather(
                client.post(f"{API}/benefit-policies/{tap}/close", headers=admin, json={"reason": "停止受理"}),
                *(client.post(f"{API}/benefit-policies/{tap}/applications", headers=tokens.company(c), json={})
                  for c in applicants))
            assert closing[0].status_code == 200
            assert {a.json()["code"] for a in closing[1:]} <= {"benefit_policy_not_open", "already_granted",
                                                               "budget_exhausted"}
            after = (await client.get(f"{API}/benefit-policies/{tap}", headers=admin)).json()
            assert after["budget_used"] == got["budget_used"]

            # --- every change audited; the replaced configurations kept -----------------------------
            async with client.app.state.sessionmaker() as s:
                actions = (await s.execute(select(platform.audit_event.c.action).where(
                    platform.audit_event.c.entity_id == pid))).scalars().all()
                kept = (await s.execute(select(BenefitPolicyVersion.version, BenefitPolicyVersion.reason).where(
                    BenefitPolicyVersion.policy_id == uuid.UUID(pid)).order_by(BenefitPolicyVersion.version))).all()
            assert actions.count("benefit_policy.amend") == 3 and actions.count("benefit_policy.close") == 1
            assert [tuple(k) for k in kept] == [(1, "追加预算"), (2, "更名"), (3, "扩大范围")]

            # --- the grantees are told (events for the gateway's notifications) -----------------------
            async with client.app.state.sessionmaker() as s:
                told = (await s.execute(select(platform.outbox.c.envelope).where(
                    platform.outbox.c.subject == "cases.benefit.granted"))).scalars().all()
            ours = [e["data"] for e in told if e["data"]["policy_id"] == pid]
            assert sorted(e["subject_id"] for e in ours) == sorted([*west, south])
            assert {(e["mode"], tuple(e["needs"]), e["applicant_sub"]) for e in ours} == {("auto", ("bank_account",), None)}
            taps = [e["data"] for e in told if e["data"]["policy_id"] == tap]
            assert len(taps) == granted and all(e["mode"] == "apply" and e["applicant_sub"] for e in taps)
            # One grantee gives its account; the others are reminded once, days later.
            mine = (await client.get(f"{API}/benefit-grants", headers=tokens.company(south),
                                     params={"policy_id": pid})).json()["items"][0]
            r = await client.put(f"{API}/benefit-grants/{mine['id']}/bank-account", headers=tokens.company(south),
                                 json={"bank_name": "中国银行中山分行", "bank_account": "6216600000001234"})
            assert r.status_code == 200, r.text
            for at, reminded in ((clock.now() + dt.timedelta(days=1), 0), (clock.now() + dt.timedelta(days=4), 3 + granted),
                                 (clock.now() + dt.timedelta(days=9), 0)):
                async with client.app.state.sessionmaker() as s, s.begin():
                    assert (await checker.check(s, at.date(), at))["account_reminders"] == reminded
            async with client.app.state.sessionmaker() as s:
                missing = (await s.execute(select(platform.outbox.c.envelope).where(
                    platform.outbox.c.subject == "cases.benefit.account_missing"))).scalars().all()
            assert mine["id"] not in {e["data"]["grant_id"] for e in missing} and len(missing) == 3 + granted


async def test_facts_from_registration_and_completed_cases(infra, token_issuer, tokens, kit, clean_nats):
    """Registration facts come from the approval of a business-licence case (source `registry`,
    verified, not declarable over); `case.completed.<item>` from the subject's completed cases
    (source `case`); each change re-evaluates that subject alone, so 免申即享 grants follow."""
    with clock.pinned(dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)):
        today = clock.today()
        async with running_service(SERVICE, infra, token_issuer) as client:
            admin, firm = tokens.admin(), tokens.company()
            young = policy(today, kit.DEPT, name="石岐新办企业补贴", mode="auto", budget=10_000, definitions={},
                           eligibility=[{"fact": "company.district", "op": "eq", "value": "石岐街道"},
                                        {"fact": "company.age_years", "op": "lt", "value": 3}])
            done = policy(today, kit.DEPT, name="优待证办结奖励", mode="auto", budget=10_000, definitions={},
                          eligibility=[{"fact": f"case.completed.{kit.ITEM}", "op": "present"}])
            bad = done | {"eligibility": [{"fact": "case.completed.123", "op": "present"}]}
            assert (await client.post(f"{API}/benefit-policies", headers=admin, json=bad)).status_code == 422
            ids = []
            for body in (young, done):
                pid = (await client.post(f"{API}/benefit-policies", headers=admin, json=body)).json()["id"]
                assert (await client.post(f"{API}/benefit-policies/{pid}/publish", headers=admin)).json()["granted"] == 0
                ids.append(pid)

            # --- a registration (企业设立登记 approved, its business licence's fields) -------------------
            async def hear(event_type, payload) -> None:
                async with client.app.state.sessionmaker() as s, s.begin():
                    await registry.on_case_event(s, make_event("cases", event_type, payload))

            await hear(CASE_APPROVED, CaseApprovedV1(
                case_id=uuid.uuid4(), case_number="442000202612070099", item_basic_code="442020000101",
                applicant_type="company", applicant_id=kit.COMPANY, applicant_name="中山市通办科技有限公司",
                result_licence_type_code=registry.BUSINESS_LICENCE, department=kit.DEPT, approved_at=clock.now(),
                data={"company_name": "中山市通办科技有限公司", "established_on": "2025-06-01",
                      "address": "中山市石岐街道民生路1号", "industry_code": "I65"}))
            facts = {f["name"]: f for f in (await client.get(f"{API}/benefit-facts", headers=firm)).json()["facts"]}
            assert {k: (f["value"], f["source"], f["verified"]) for k, f in facts.items()} == {
                "company.established_on": ("2025-06-01", "registry", True),
                "company.district": ("石岐街道", "registry", True),
                "company.industry_code": ("I65", "registry", True)}
            mine = (await client.get(f"{API}/benefit-grants", headers=firm)).json()["items"]
            assert [g["policy_id"] for g in mine] == [ids[0]]
            r = await client.put(f"{API}/benefit-facts", headers=firm, json={"facts": {"company.district": "东区街道"}})
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "facts.company.district"
            r = await client.put(f"{API}/benefit-facts", headers=firm, json={"facts": {"company.employees": 8}})
            assert {f["name"]: f["verified"] for f in r.json()["facts"]}["company.employees"] is False
            # An approval of another kind of case (no business licence) says nothing of the register.
            await hear(CASE_APPROVED, CaseApprovedV1(
                case_id=uuid.uuid4(), case_number="442000202612070098", item_basic_code=kit.ITEM,
                applicant_type="company", applicant_id=kit.COMPANY, applicant_name="x", department=kit.DEPT,
                approved_at=clock.now(), data={"address": "中山市东区街道1号"}))
            facts = {f["name"]: f["value"] for f in (await client.get(f"{API}/benefit-facts", headers=firm)).json()["facts"]}
            assert facts["company.district"] == "石岐街道"

            # --- a completed case of an item: the fact, and the policy asking for it granted ----------
            await kit.publish_item(client)
            case_id = (await client.post(f"{API}/cases", headers=firm, json={"basic_code": kit.ITEM})).json()["id"]
            for action, who in (("accept", tokens.clerk()), ("review", tokens.approver()), ("approve", tokens.approver()),
                                ("complete", tokens.clerk())):
                r = await client.post(f"{API}/cases/{case_id}/{action}", headers=who, json={})
                assert r.status_code == 200, (action, r.text)
            async with client.app.state.sessionmaker() as s:
                envelope = (await s.execute(select(platform.outbox.c.envelope).where(
                    platform.outbox.c.subject == "cases.case.completed"))).scalar_one()
            async with client.app.state.sessionmaker() as s, s.begin():
                await registry.on_case_event(s, Envelope.model_validate(envelope))
            facts = {f["name"]: f for f in (await client.get(f"{API}/benefit-facts", headers=firm)).json()["facts"]}
            assert (facts[f"case.completed.{kit.ITEM}"]["source"], facts[f"case.completed.{kit.ITEM}"]["verified"]) \
                == ("case", True)
            mine = (await client.get(f"{API}/benefit-grants", headers=firm)).json()["items"]
            assert sorted(g["policy_id"] for g in mine) == sorted(ids)
            # Revoked (as a broken commitment's case is): no completed case of that item remains, the
            # fact goes (the grant made stays).
            async with client.app.state.sessionmaker() as s, s.begin():
                await s.execute(update(Case).where(Case.id == uuid.UUID(case_id)).values(state="revoked"))
                await registry.on_case_event(s, make_event("cases", CASE_REVOKED, CaseTransitionedV1(
                    case_id=uuid.UUID(case_id), case_number="x", item_basic_code=kit.ITEM, from_state="completed",
                    state="revoked", actor="approver", at=clock.now())))
            facts = {f["name"] for f in (await client.get(f"{API}/benefit-facts", headers=firm)).json()["facts"]}
            assert f"case.completed.{kit.ITEM}" not in facts
            assert len((await client.get(f"{API}/benefit-grants", headers=firm)).json()["items"]) == 2


def test_the_registered_district_is_read_from_the_address() -> None:
    assert [registry.district_of(a) for a in ("中山市石岐街道民生路1号", "中山市东区街道1号", "深圳市南山区粤海街道科技园",
                                              "广东省中山市小榄镇升平路", "中山市")] == [
        "石岐街道", "东区街道", "粤海街道", "小榄镇", None]
    assert registry.registration_facts({"established_on": "2099-01-01", "address": "x"}, dt.date(2026, 12, 7)) == {}
