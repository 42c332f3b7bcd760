""""What do I qualify for" from the policies compiled together: the same answer as asking every
policy in turn, and compiled policies that follow every change to a published policy (published,
amended, closed by any code path) but not the budget taken by grants."""

import datetime as dt
import json
import random
import uuid

from sqlalchemy import event, text

from tongban.cases.benefit import matching, rules
from tongban.cases.benefit.schemas import MatchesRead, PolicyMatch
from tongban.cases.main import SERVICE
from tongban.shared import clock
from tongban.shared.ids import credit_code_check_char
from tongban.shared.testing.plugin import running_service

API = "/api/v1/cases"
FOOD = "11100000000013338W002"
DISTRICTS = ["石岐街道", "东区街道", "西区街道", "小榄镇"]
SIZES = ["micro", "small", "medium", "large"]
TODAY = dt.date(2026, 12, 7)


def _condition(rng: random.Random) -> dict:
    return rng.choice([
        {"fact": "company.district", "op": "in", "value": rng.sample(DISTRICTS, 2)},
        {"fact": "company.district", "op": "eq", "value": rng.choice(DISTRICTS)},
        {"fact": "company.size", "op": "ne", "value": rng.choice(SIZES)},
        {"fact": "company.employees", "op": rng.choice(["gt", "gte", "lt", "lte"]), "value": rng.randint(1, 60)},
        {"fact": "company.age_years", "op": "gte", "value": rng.randint(1, 5)},
        {"fact": "credit.level", "op": rng.choice(["in", "lte"]), "value": ["A", "B"] if rng.random() < .5 else "B"},
        {"fact": "company.tax_category", "op": rng.choice(["present", "absent"])},
        {"fact": f"licence.{FOOD}", "op": rng.choice(["present", "absent"])},
    ])


def _policy(rng: random.Random, n: int) -> matching.Source:
    definitions = {}
    if rng.random() < 0.3:
        inner = [_condition(rng) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            definitions["deeper"] = {"mode": "all", "conditions": [_condition(rng)]}
            inner.append({"rule": "deeper"})
        definitions["group"] = {"mode": rng.choice(["all", "any"]), "conditions": inner}
    eligibility = [_condition(rng) for _ in range(rng.randint(1, 4))]
    if definitions:
        eligibility.insert(rng.randrange(len(eligibility) + 1), {"rule": "group"})
    if rng.random() < 0.1:
        eligibility.append(dict(eligibility[0]))   # the same condition twice counts twice
    # The credit.level `in` above takes a list; `lte` a single level.
    for c in eligibility:
        if c.get("fact") == "credit.level":
            c["value"] = ["A", "B"] if c["op"] == "in" else "B"
    for d in definitions.values():
        for c in d["conditions"]:
            if c.get("fact") == "credit.level":
                c["value"] = ["A", "B"] if c["op"] == "in" else "B"
    conds = [rules.Condition.model_validate(c) for c in eligibility]
    defs = {k: rules.Definition.model_validate(v) for k, v in definitions.items()}
    rules.validate(conds, defs, "company")
    amount = (rules.AmountRule(fixed=rng.choice([500, 1000, 3000])) if rng.random() < 0.8 else
              rules.AmountRule(per="company.employees", rate=rng.randint(10, 100), cap=rng.choice([None, 2000])))
    starts = TODAY - dt.timedelta(days=rng.choice([1, 30])) if rng.random() < 0.9 else TODAY + dt.timedelta(days=3)
    return matching.Source(uuid.UUID(int=n + 1), f"政策{n}", rng.choice(["apply", "auto"]),
                           "company" if rng.random() < 0.9 else "person", starts, TODAY + dt.timedelta(days=90),
                           conds, defs, amount)


def _facts(rng: random.Random) -> dict:
    f = {}
    for name, value in (("company.district", lambda: rng.choice(DISTRICTS)), ("company.size", lambda: rng.choice(SIZES)),
                        ("company.employees", lambda: rng.randint(0, 80)),
                        ("company.established_on", lambda: f"{rng.randint(2018, 2026)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"),
                        ("credit.level", lambda: rng.choice("ABCD")), ("company.tax_category", lambda: "small_scale"),
                        (f"licence.{FOOD}", lambda: True)):
        if rng.random() < 0.75:
            f[name] = value()
    if rng.random() < 0.05:
        f["company.employees"] = "many"   # text where a number is compared: never an error
    return rules.known_facts(f, TODAY)


def _one_by_one(sources: list[matching.Source], subject_id: str, subject_type: str, known: dict,
                granted: set[uuid.UUID]) -> MatchesRead:
    """Every open policy asked in turn, every condition evaluated: the answer by definition."""
    eligible, near = [], []
    for s in sources:
        if s.subject_type != subject_type or not s.starts_on <= TODAY <= s.ends_on:
            continue
        v = rules.evaluate(rules.compile_checks(s.eligibility, s.definitions), known)
        if not v.eligible and len(v.missing) > 1:
            continue
        (eligible if v.eligible else near).append(PolicyMatch(
            policy_id=s.id, name=s.name, mode=s.mode, amount=s.amount.amount(known), matched=v.matched,
            missing=v.missing, granted=s.id in granted))
    near.sort(key=lambda m: -m.amount)
    return MatchesRead(subject_id=subject_id, eligible=eligible, near=near[:20])


def test_compiled_policies_answer_as_each_policy_asked_in_turn() -> None:
    rng = random.Random(22)
    sources = [_policy(rng, n) for n in range(300)]
    matcher = matching.Matcher(sources, near=1, shown=20)
    assert matcher.conditions < sum(len(s.eligibility) for s in sources)   # shared conditions asked once
    seen_near = seen_eligible = 0
    for k in range(400):
        known = _facts(rng)
        granted = {s.id for s in rng.sample(sources, 30)}
        subject_type = "company" if k % 10 else "person"
        answer = json.loads(matcher.answer("91442000MA4UH00001", subject_type, known, granted, TODAY))
        expected = _one_by_one(sources, "91442000MA4UH00001", subject_type, known, granted)
        assert answer == expected.model_dump(mode="json"), known
        MatchesRead.model_validate(answer)
        seen_near += len(answer["near"])
        seen_eligible += len(answer["eligible"])
    assert seen_near > 100 and seen_eligible > 100   # both kinds of answer were compared


def code(body: str) -> str:
    return body + credit_code_check_char(body)


def _body(dept: str, name: str, eligibility: list, amount: int = 1000) -> dict:
    return {"name": name, "kind": "subsidy", "subject_type": "company", "mode": "apply", "basic_code": "442020000950",
            "department": dept, "eligibility": eligibility, "amount": {"fixed": amount},
            "starts_on": str(TODAY - dt.timedelta(days=1)), "ends_on": str(TODAY + dt.timedelta(days=90)),
            "budget": 100_000}


async def test_compiled_policies_follow_every_change_of_a_published_policy(infra, token_issuer, tokens, kit,
                                                                           clean_nats):
    with clock.pinned(dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)):
        async with running_service(SERVICE, infra, token_issuer) as client:
            admin, cache = tokens.admin(), client.app.state.benefit_policies
            firm_id = code("91442000MA4UH0009")
            firm = tokens.company(firm_id)
            r = await client.put(f"{API}/benefit-facts", headers=firm,
                                 json={"facts": {"company.district": "石岐街道", "company.employees": 12}})
            assert r.status_code == 200, r.text

            async def names() -> tuple[list[str], list[str]]:
                r = await client.get(f"{API}/benefit-matches", headers=firm)
                assert r.status_code == 200, r.text
                MatchesRead.model_validate(r.json())
                return [m["name"] for m in r.json()["eligible"]], [m["name"] for m in r.json()["near"]]

            async def policy(name: str, eligibility: list, publish: bool = True) -> str:
                r = await client.post(f"{API}/benefit-policies", headers=admin | {"Idempotency-Key": f"p-{len(name)}-{ord(name[0])}"},
                                      json=_body(kit.DEPT, name, eligibility))
                assert r.status_code == 201, r.text
                if publish:
                    assert (await client.post(f"{API}/benefit-policies/{r.json()['id']}/publish",
                                              headers=admin)).status_code == 200
                return r.json()["id"]

            assert await names() == ([], [])
            first = await policy("甲", [{"fact": "company.district", "op": "eq", "value": "石岐街道"}])
            assert await names() == (["甲"], [])
            # A draft is never matched: creating one leaves the compiled policies as they are.
            compiled = cache.compiled
            draft = await policy("乙", [{"fact": "company.employees", "op": "gte", "value": 50}], publish=False)
            assert await names() == (["甲"], []) and cache.compiled == compiled
            assert (await client.post(f"{API}/benefit-policies/{draft}/publish", headers=admin)).status_code == 200
            assert await names() == (["甲"], ["乙"])
            # Compiled and current: one statement reads the generation, the facts and the grants.
            asked: list[str] = []

            def count(conn, cursor, statement, *args) -> None:
                if "benefit_" in statement:
                    asked.append(statement)
            engine = client.app.state.runtime.engine.sync_engine
            event.listen(engine, "before_cursor_execute", count)
            try:
                assert await names() == (["甲"], ["乙"])
            finally:
                event.remove(engine, "before_cursor_execute", count)
            assert len(asked) == 1, asked
            # Taking budget (a grant) changes nothing matching answers: no recompiling.
            compiled = cache.compiled
            r = await client.post(f"{API}/benefit-policies/{first}/applications", headers=firm | {"Idempotency-Key": "a"},
                                  json={})
            assert r.status_code == 201, r.text
            answer = (await client.get(f"{API}/benefit-matches", headers=firm)).json()
            assert answer["eligible"][0]["granted"] is True and cache.compiled == compiled
            # A published policy changed by any code path (an amendment, a closing, the period
            # moved): the next answer follows it.
            async with client.app.state.sessionmaker() as s, s.begin():
                await s.execute(text("UPDATE cases.benefit_policy SET eligibility = "
                                     "'[{\"fact\": \"company.employees\", \"op\": \"gte\", \"value\": 10}]' "
                                     "WHERE id = :id"), {"id": draft})
            assert await names() == (["甲", "乙"], [])
            async with client.app.state.sessionmaker() as s, s.begin():
                await s.execute(text("UPDATE cases.benefit_policy SET ends_on = :d WHERE id = :id"),
                                {"id": first, "d": TODAY - dt.timedelta(days=1)})
            assert await names() == (["乙"], [])
            async with client.app.state.sessionmaker() as s, s.begin():
                await s.execute(text("UPDATE cases.benefit_policy SET state = 'closed' WHERE id = :id"), {"id": draft})
            assert await names() == ([], [])
            # A rolled-back change is not seen: the generation moves only with a commit.
            async with client.app.state.sessionmaker() as s:
                await s.execute(text("UPDATE cases.benefit_policy SET state = 'published' WHERE id = :id"),
                                {"id": draft})
                await s.rollback()
            assert await names() == ([], [])
