"""The shared policy mechanism: the three questions, in order, and the refusal that names the one failing."""

import datetime as dt

import pytest
from tongban.shared import clock
from tongban.shared.auth import NotOwner, OutsideDelegation, OutsideScope, Principal, RealNameRequired
from tongban.shared.policy import Clause, NotPermitted, Policy, Rule, Target, admit

ME, MUM, OTHER, CO = "110101199003074514", "110101195001011234", "110101198001011111", "91440300MA5EXAMPLE"
POLICY = Policy("demo", {
    "case.read": (Rule("citizen", level="verified", own=True, action="read"),
                  Rule("company", own=True, action="read"),
                  Rule("clerk", scope="hall"), Rule("approver", scope="department"), Rule("auditor")),
    "case.progress": (Rule("anonymous"), Rule("citizen")),
})


def until(days: int = 30) -> str:
    return (clock.now() + dt.timedelta(days=days)).isoformat()


def citizen(level="verified", agent_for=None) -> Principal:
    claims = {"sub": "u", "role": "citizen", "id_number": ME, "real_name_level": level}
    if agent_for:
        claims["agent_for"] = agent_for
    return Principal.from_claims(claims)


def test_real_name_first():
    with pytest.raises(RealNameRequired) as err:
        admit(POLICY, "case.read", citizen("self_declared"))
    assert "verify" in err.value.detail
    admit(POLICY, "case.progress", citizen("self_declared"))
    assert citizen("counter_verified").verified and not citizen("self_declared").verified


def test_own_and_delegated_records():
    daughter = citizen(agent_for={"kind": "person", "id_number": MUM, "name": "妈妈", "delegations": [
        {"id": "d1", "items": ["ITEM1"], "actions": ["read", "apply"], "until": until()}]})
    access = admit(POLICY, "case.read", daughter)
    assert access.check(Target(owner=ME, item="X")).principal == ME
    decision = access.check(Target(owner=MUM, item="ITEM1"))
    assert (decision.principal, decision.delegated) == (MUM, True)
    with pytest.raises(OutsideDelegation):
        access.check(Target(owner=MUM, item="ITEM2"))
    with pytest.raises(NotOwner):
        access.check(Target(owner=OTHER, item="ITEM1"))
    assert set(access.reach()) == {Clause(owner=ME), Clause(owner=MUM, items=frozenset({"ITEM1"}))}
    assert daughter.delegations == ("d1",)


def test_expired_delegation_grants_nothing():
    daughter = citizen(agent_for={"kind": "person", "id_number": MUM, "delegations": [
        {"id": "d1", "items": ["ITEM1"], "actions": ["read"], "until": until(-1)}]})
    with pytest.raises(OutsideDelegation):
        admit(POLICY, "case.read", daughter).check(Target(owner=MUM, item="ITEM1"))


def test_company_agent_is_not_the_company():
    agent = Principal.from_claims({"sub": "a", "role": "company", "credit_code": CO, "company_role": "agent"})
    with pytest.raises(OutsideDelegation):
        admit(POLICY, "case.read", agent)
    agent = Principal.from_claims({"sub": "a", "role": "company", "credit_code": CO, "company_role": "agent",
                                   "agent_for": {"kind": "company", "credit_code": CO, "delegations": [
                                       {"id": "d", "items": ["Y"], "actions": ["read"], "until": until()}]}})
    access = admit(POLICY, "case.read", agent)
    assert access.check(Target(owner=CO, item="Y")).principal == CO
    with pytest.raises(OutsideDelegation):
        access.check(Target(owner=CO, item="Z"))
    rep = Principal.from_claims({"sub": "r", "role": "company", "credit_code": CO,
                                 "company_role": "legal_representative"})
    assert admit(POLICY, "case.read", rep).check(Target(owner=CO, item="Z")).delegated is False


def test_staff_scope():
    clerk = Principal.from_claims({"sub": "c", "role": "clerk", "halls": ["H1"], "departments": ["D1", "D2"]})
    access = admit(POLICY, "case.read", clerk)
    access.check(Target(owner=OTHER, hall="H1", department="D2"))
    access.check(Target(owner=OTHER, hall=None, department="D1"))
    with pytest.raises(OutsideScope):
        access.check(Target(owner=OTHER, hall="H2", department="D1"))
    old = Principal.from_claims({"sub": "a", "role": "approver", "department": "D1"})
    assert old.departments == frozenset({"D1"})
    with pytest.raises(OutsideScope):
        admit(POLICY, "case.read", old).check(Target(department="D2"))
    with pytest.raises(NotPermitted):
        admit(POLICY, "case.read", Principal(sub="p", role="partner", scopes=frozenset()))


def test_the_table_says_who_may_do_what():
    rows = {r["permission"]: r for r in POLICY.table()}
    assert rows["case.read"]["citizen"].startswith("≥verified own")
    assert rows["case.read"]["partner"] == "—"
    assert "| permission |" in POLICY.markdown()
