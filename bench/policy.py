"""Per-request cost of answering "may this caller do this to this case?", three ways.

- tongban.shared.policy (what svc-cases uses): `admit` (the route's half, on the token alone)
  then `Access.check` (the record's half: ownership or delegation, staff scope).
- the same questions as hand-written `if`s (the floor: what scattered checks cost).
- casbin (pycasbin, ABAC matcher over the same facts), if importable — install it anywhere on
  the path, e.g. `pip install --target /tmp/casbin-lib pycasbin` and run with
  `PYTHONPATH=/tmp/casbin-lib`.

Pure CPU, no I/O: each figure is the median of 5 rounds of N decisions, in microseconds per
decision, and the ratio to the floor. Callers: a verified citizen on her own case, a daughter
under a delegation, a clerk in scope, an approver out of scope (a refusal, so exceptions count).

    .venv/bin/python bench/policy.py [--n 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from tongban.cases.policy import POLICY
from tongban.shared.auth import Principal
from tongban.shared.errors import AppError
from tongban.shared.policy import Target, admit

MUM, GIRL, D1, D2, ITEM = "442000194808082221", "442000197807073331", "D1", "D2", "442020000901"
UNTIL = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
CALLERS = {
    "citizen, own case": Principal.from_claims({"sub": "m", "role": "citizen", "scope": "cases:read",
                                                "id_number": MUM, "real_name_level": "verified"}),
    "agent, delegated": Principal.from_claims({"sub": "g", "role": "citizen", "scope": "cases:read",
                                               "id_number": GIRL, "real_name_level": "verified",
                                               "agent_for": {"kind": "person", "id_number": MUM, "delegations": [
                                                   {"id": "d", "items": [ITEM], "actions": ["read"],
                                                    "until": UNTIL}]}}),
    "clerk, in scope": Principal.from_claims({"sub": "c", "role": "clerk", "scope": "cases:read",
                                              "halls": ["H1"], "departments": [D1]}),
    "approver, refused": Principal.from_claims({"sub": "a", "role": "approver", "scope": "cases:read",
                                                "departments": [D2]}),
}
CASE = Target(owner=MUM, item=ITEM, hall="H1", department=D1, channel="counter")


def with_policy(p: Principal) -> bool:
    try:
        admit(POLICY, "case.read", p).check(CASE)
    except AppError:
        return False
    return True


def by_hand(p: Principal) -> bool:
    if p.role == "citizen":
        if p.real_name_level not in ("verified", "counter_verified"):
            return False
        if p.id_number == CASE.owner:
            return True
        agent_for = p.agent_for
        return agent_for is not None and agent_for.id == CASE.owner and \
            agent_for.covering(CASE.item, "read", dt.datetime.now(dt.UTC)) is not None
    if p.role == "clerk":
        return CASE.hall in p.halls and CASE.department in p.departments
    if p.role == "approver":
        return CASE.department in p.departments
    return p.role in ("admin", "auditor")


MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = role, act, rule

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub.role == p.role && r.act == p.act && eval(p.rule)
"""
POLICIES = """
p, citizen, read, r.sub.verified && (r.sub.own == r.obj.owner || (r.sub.principal == r.obj.owner && r.obj.item in r.sub.items))
p, clerk, read, r.obj.hall in r.sub.halls && r.obj.department in r.sub.departments
p, approver, read, r.obj.department in r.sub.departments
"""


class Facts:
    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)


def casbin_enforcer():
    try:
        import casbin
    except ImportError:
        return None
    folder = Path(tempfile.mkdtemp())
    (folder / "model.conf").write_text(MODEL)
    (folder / "policy.csv").write_text(POLICIES.strip() + "\n")
    return casbin.Enforcer(str(folder / "model.conf"), str(folder / "policy.csv"))


def casbin_facts(p: Principal) -> Facts:
    agent_for = p.agent_for
    items = sorted(agent_for.items("read", dt.datetime.now(dt.UTC))) if agent_for else []
    return Facts(role=p.role, verified=p.verified, own=p.own_id, principal=agent_for.id if agent_for else None,
                 items=items, halls=sorted(p.halls), departments=sorted(p.departments))


def measure(fn, n: int) -> float:
    rounds = []
    callers = list(CALLERS.values())
    for _ in range(5):
        start = time.perf_counter()
        for i in range(n):
            fn(callers[i % len(callers)])
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    n = parser.parse_args().n
    answers = {name: (with_policy(p), by_hand(p)) for name, p in CALLERS.items()}
    assert all(a == b for a, b in answers.values()), answers
    rows = [("hand-written ifs (floor)", measure(by_hand, n)), ("tongban.shared.policy", measure(with_policy, n))]
    enforcer = casbin_enforcer()
    if enforcer is not None:
        obj = Facts(owner=CASE.owner, item=CASE.item, hall=CASE.hall, department=CASE.department)
        for name, p in CALLERS.items():
            assert enforcer.enforce(casbin_facts(p), obj, "read") == answers[name][0], name
        rows.append(("casbin (eval matcher), facts built per call",
                     measure(lambda p: enforcer.enforce(casbin_facts(p), obj, "read"), max(n // 10, 100))))
    else:
        rows.append(("casbin", float("nan")))
    floor = rows[0][1]
    print(f"{'mechanism':<46} {'µs/decision':>12} {'× floor':>9}")
    for name, us in rows:
        print(f"{name:<46} {us:>12.2f} {us / floor:>9.1f}")
    print(f"policy_us_per_decision: {rows[1][1]:.2f}")


if __name__ == "__main__":
    main()
