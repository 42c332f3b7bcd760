"""What a policy matrix test needs from the app alone: the routes of its OpenAPI, the permission
each declares, every kind of caller as token claims, and what the policy expects of each call.

A service's `tests/test_policy_matrix.py` calls each route as each caller and compares the answer
with `expected` (the declared policy, evaluated by the shared mechanism). "Refused by the policy"
is 401, or 403 naming one of the policy's refusals (`POLICY_REFUSALS` plus a service's own);
anything else — 2xx, 404, 409, 422, or a refusal the service makes after the policy admitted the
caller — counts as admitted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from tongban.shared.auth import Principal
from tongban.shared.errors import AppError
from tongban.shared.ids import credit_code_check_char, resident_id_check_digit
from tongban.shared.policy import Policy, Target, admit, declared_permission, routes_of
from tongban.shared.tables import PlatformTables

POLICY_REFUSALS = frozenset({"not_permitted", "insufficient_scope", "real_name_required", "outside_delegation",
                             "outside_scope", "not_owner", "invalid_token"})
HALL, OTHER_HALL = "zs-hall-1", "zs-hall-9"
DEPT, OTHER_DEPT = "11442000007238631X", "11442000MB2C94702B"
ITEM, OTHER_ITEM = "442000000001", "442000000002"
ALL_ACTIONS = ["read", "apply", "act", "present", "consent", "seal"]


def resident(first17: str) -> str:
    return first17 + resident_id_check_digit(first17)


def credit(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


def numbered(n: int) -> str:
    """The n-th resident of the test town: a valid id number for a service that gives each caller its own."""
    return resident(f"44200019900101{n:03d}")


CITIZEN, OTHER_CITIZEN, DAUGHTER = resident("44200019900101001"), resident("44200019900101002"), \
    resident("44200020000101003")
COMPANY, OTHER_COMPANY = credit("91442000MA4UAB12C"), credit("91442000MA4UAB99X")


def declared(app: FastAPI, platform_routes: Mapping[str, str] = {}) -> dict[str, str]:  # noqa: B006
    """"METHOD /path" → the permission its Authorize dependency names (and the shared routes')."""
    found = dict(platform_routes)
    for path, methods, route in routes_of(app):
        name = declared_permission(route)
        if name is not None:
            for method in methods:
                found[f"{method} {path}"] = name
    return found


def operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every operation of the app's OpenAPI, as (METHOD, path template)."""
    return [(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops
            if m in ("get", "post", "put", "patch", "delete")]


def undeclared(app: FastAPI, policy: Policy, platform_routes: Mapping[str, str] = {},  # noqa: B006
               record_permissions: Iterable[str] = ()) -> list[str]:
    """What a matrix test refuses to pass: routes without a permission, permissions the policy
    lacks, and permissions no route (nor a record check) uses."""
    table = declared(app, platform_routes)
    problems = [f"no permission: {m} {p}" for m, p in operations(app) if f"{m} {p}" not in table]
    problems += [f"not in the policy: {n}" for n in set(table.values()) - set(policy.permissions)]
    problems += [f"unused: {n}" for n in set(policy.permissions) - set(table.values()) - set(record_permissions)]
    return problems


@dataclass(frozen=True)
class Caller:
    name: str
    claims: dict[str, Any] | None     # None: anonymous

    def principal(self) -> Principal | None:
        return Principal.from_claims(self.claims) if self.claims is not None else None

    @property
    def role(self) -> str:
        return self.claims["role"] if self.claims else "anonymous"

    @property
    def sub(self) -> str | None:
        return self.claims["sub"] if self.claims else None

    def token(self, issuer: Any, audience: str | list[str]) -> dict[str, str]:
        if self.claims is None:
            return {}
        extra = {k: v for k, v in self.claims.items() if k not in ("sub", "role", "scope")}
        return {"Authorization": "Bearer " + issuer.mint(self.claims["role"], self.claims["scope"], audience,
                                                         sub=self.claims["sub"], **extra)}


def delegation(items: Iterable[str], actions: Iterable[str] = ALL_ACTIONS) -> list[dict[str, Any]]:
    """One delegation for the given items, valid for thirty days."""
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    return [{"id": str(uuid.uuid4()), "items": list(items), "actions": list(actions), "until": until}]


# A caller's name is positional only, so a claim may be called `name` too; its `sub` is its name
# unless a claim says otherwise.
def person(name: str, id_number: str, scope: str, level: str = "verified", /, **claims: Any) -> Caller:
    return Caller(name, {"sub": name, "role": "citizen", "scope": scope, "id_number": id_number,
                         "real_name_level": level, **claims})


def company(name: str, company_role: str, scope: str, credit_code: str = COMPANY, /, **claims: Any) -> Caller:
    return Caller(name, {"sub": name, "role": "company", "scope": scope, "credit_code": credit_code,
                         "company_role": company_role, **claims})


def staff(name: str, role: str, scope: str, /, **claims: Any) -> Caller:
    return Caller(name, {"sub": name, "role": role, "scope": scope, **claims})


def service(name: str, scope: str, /, **claims: Any) -> Caller:
    return Caller(f"service-{name}", {"sub": f"service:{name}", "role": "service", "scope": scope, **claims})


def callers(scopes: Mapping[str, str], services: Mapping[str, str], *, citizen: str = CITIZEN,
            other_citizen: str = OTHER_CITIZEN, department: str = DEPT, other_department: str = OTHER_DEPT,
            ) -> list[Caller]:
    """Every kind of caller: `scopes` maps a role to the scopes its token carries (as the gateway
    gives them), `services` a service client's name to its scopes. The people and departments are
    the kit's unless a service's records name its own."""
    parent = {"kind": "person", "id_number": citizen, "name": "张三"}
    firm = {"kind": "company", "credit_code": COMPANY, "name": "某公司"}
    people, firms = scopes["citizen"], scopes["company"]
    return [
        Caller("anonymous", None),
        person("citizen-self-declared", citizen, people, "self_declared"),
        person("citizen-verified", citizen, people),
        person("citizen-counter-verified", citizen, people, "counter_verified"),
        person("another-citizen", other_citizen, people),
        person("agent-with-delegation", DAUGHTER, people, agent_for={**parent, "delegations": delegation([ITEM])}),
        person("agent-other-item", DAUGHTER, people, agent_for={**parent, "delegations": delegation([OTHER_ITEM])}),
        person("agent-without-delegation", DAUGHTER, people, agent_for={**parent, "delegations": []}),
        company("company-legal-representative", "legal_representative", firms),
        company("company-administrator", "administrator", firms),
        company("company-agent-with-delegation", "agent", firms, agent_for={**firm, "delegations": delegation([ITEM])}),
        company("company-agent-without-delegation", "agent", firms),
        staff("clerk-in-hall", "clerk", scopes["clerk"], halls=[HALL], departments=[department], hall=HALL),
        staff("clerk-out-of-hall", "clerk", scopes["clerk"], halls=[OTHER_HALL], departments=[other_department],
              hall=OTHER_HALL),
        staff("approver-in-department", "approver", scopes["approver"], departments=[department]),
        staff("approver-out-of-department", "approver", scopes["approver"], departments=[other_department]),
        staff("admin", "admin", scopes["admin"]),
        staff("auditor", "auditor", scopes["auditor"]),
        staff("partner", "partner", scopes["partner"], sub="partner-sz", partner="440300"),
        *(service(name, scope) for name, scope in services.items()),
    ]


def expected(policy: Policy, permission: str, caller: Caller, target: Target | None = None) -> bool:
    """Whether the declared policy admits this caller (and, given a record, to that record)."""
    try:
        access = admit(policy, permission, caller.principal())
        if target is not None:
            access.check(target)
    except AppError:
        return False
    return True


def refused(status: int, body: Any, codes: Iterable[str] = ()) -> bool:
    code = body.get("code") if isinstance(body, dict) else None
    return status == 401 or (status == 403 and (code in POLICY_REFUSALS or code in set(codes)))


@dataclass
class Tally:
    """The calls a matrix test made and the answers that disagree with the policy."""
    calls: int = 0
    mismatches: list[str] = field(default_factory=list)

    async def call(self, client: Any, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        """One call: its status and its JSON body (None if it has none); a 5xx fails at once."""
        r = await client.request(method, url, **kwargs)
        self.calls += 1
        assert r.status_code < 500, (method, url, r.text)
        return r.status_code, (r.json() if r.headers.get("content-type", "").endswith("json") else None)

    def compare(self, what: str, want: bool | str, got: bool | str, status: int, body: Any) -> None:
        """Note a call whose answer (`got`) is not the policy's (`want`): booleans are "admitted"."""
        if want != got:
            code = body.get("code") if isinstance(body, dict) else ""
            said = ("allow" if want else "refuse") if isinstance(want, bool) else want
            self.mismatches.append(f"{what}: policy says {said}, got {status} {code or ''}".rstrip())

    def verdict(self) -> None:
        assert not self.mismatches, (f"{len(self.mismatches)} of {self.calls} calls disagree with the policy:\n"
                                     + "\n".join(self.mismatches))


async def audited_refusals(app: Any, platform: PlatformTables) -> set[str]:
    """The callers (token subjects) whose refusal by a route's policy is in the service's audit trail."""
    audit = platform.audit_event
    async with app.state.sessionmaker() as session:
        return set((await session.execute(
            select(audit.c.actor).where(audit.c.entity == "route").distinct())).scalars())
