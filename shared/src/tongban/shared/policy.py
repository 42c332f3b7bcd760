"""One visible policy per service: who may do what, for whom, within which scope — as data.

A service declares its `Policy` in one file (`<service package>/policy.py`): a table from
permission names ("case.read", "case.submit") to the rules that grant them. Routes depend on
`Authorize(policy, "case.read")`; the one function `Access.check` answers for a record. A reader
can read the table top to bottom, and `Policy.table()` prints it (README, matrix test).

A rule is checked in two halves:

- at the route, before any SQL, on the caller alone: role, token scopes, real-name level, and
  for rules that serve agents, that the token carries some delegation for the action;
- on the record (`Access.check(Target)`) or the list (`Access.reach()`): ownership (the caller
  itself, or its principal under a delegation covering the record's item and the action — see
  `Principal.acting_for`), staff scope (halls, departments), the record's channel.

A refusal names the question that failed — `real_name_required`, `outside_delegation`,
`outside_scope` — or `not_owner`, which a service turns into 404 where existence must not leak.
Refusals of staff and agents are audited in their own transaction (the request's rolls back).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from tongban.shared import clock
from tongban.shared.auth import (
    InsufficientScope,
    NotOwner,
    OutsideDelegation,
    OutsideScope,
    Principal,
    RealNameRequired,
    optional_principal,
)
from tongban.shared.errors import AppError, Forbidden, Unauthorized, problem_response

if TYPE_CHECKING:
    from tongban.shared.audit import AuditTrail

log = logging.getLogger("tongban.policy")
ROLES = ("anonymous", "citizen", "company", "clerk", "approver", "admin", "auditor", "partner", "service")
LEVEL_ORDER = {"self_declared": 0, "verified": 1, "counter_verified": 2}
# Which refusal to give when several rules fail: the one a client can act on comes first.
_PRIORITY = (RealNameRequired, OutsideDelegation, OutsideScope, InsufficientScope, NotOwner)


class NotPermitted(Forbidden):
    code, title = "not_permitted", "Your role may not do this"


@dataclass(frozen=True)
class Rule:
    """One way to hold a permission.

    who      a role (ROLES); "anonymous" is a call without a token, "anyone" any caller at all.
    scopes   token scopes the caller must hold.
    level    citizens: the least real-name level.
    own      the record must be the caller's own; with `action`, also its principal's under a
             delegation granting that action on the record's item (Principal.acting_for).
    scope    staff: "hall" (a clerk's halls and departments) or "department".
    channel  the record must have come through this channel ("counter", "partner").
    """

    who: str
    scopes: tuple[str, ...] = ()
    level: str | None = None
    own: bool = False
    action: str | None = None
    scope: str | None = None
    channel: str | None = None

    def describe(self) -> str:
        parts = [self.who]
        if self.level:
            parts.append(f"≥{self.level}")
        if self.own:
            parts.append("own" + (f" or delegated '{self.action}'" if self.action else ""))
        if self.scope:
            parts.append(f"in {self.scope} scope")
        if self.channel:
            parts.append(f"{self.channel} cases")
        if self.scopes:
            parts.append(f"[{' '.join(self.scopes)}]")
        return " ".join(parts)

    def admits(self, p: Principal | None) -> AppError | None:
        """The caller-only half: None when it holds, else the refusal it would give."""
        if self.who == "anyone":
            return None
        if p is None:
            return None if self.who == "anonymous" else Unauthorized("this needs an access token")
        if self.who != p.role:
            return NotPermitted(f"a {p.role} may not do this")
        if missing := [s for s in self.scopes if not p.has(s)]:
            return InsufficientScope(f"missing scope: {' '.join(missing)}")
        if self.level and LEVEL_ORDER.get(p.real_name_level or "", -1) < LEVEL_ORDER[self.level]:
            return RealNameRequired()
        if self.own and p.role == "company" and p.company_role == "agent":
            agent_for = p.agent_for
            if self.action is None or agent_for is None or agent_for.covering(None, self.action, clock.now()) is None:
                return OutsideDelegation("a company's agent acts only within its delegations")
        return None


@dataclass(frozen=True)
class Target:
    """What a rule asks of a record: whose it is, of which item, where it is handled."""

    owner: str | None = None          # resident ID number or credit code
    item: str | None = None           # the item's basic code
    hall: str | None = None
    department: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Clause:
    """One way a list may reach records (the clauses of a Reach are OR-ed; None = any)."""

    owner: str | None = None
    items: frozenset[str] | None = None
    halls: frozenset[str] | None = None           # a record without a hall passes (online cases)
    departments: frozenset[str] | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Decision:
    """Who acts, for whom: `principal` is the subject acted for (None for staff and systems)."""

    actor: Principal
    principal: str | None
    rule: Rule
    delegated: bool = False


@dataclass(frozen=True)
class Policy:
    """A service's permissions, each granted by any of its rules."""

    service: str
    permissions: Mapping[str, tuple[Rule, ...]]

    def __getitem__(self, permission: str) -> tuple[Rule, ...]:
        return self.permissions[permission]

    def table(self, roles: Iterable[str] = ROLES) -> list[dict[str, str]]:
        """Who may do what: one row per permission, one column per role."""
        rows = []
        for name, rules in self.permissions.items():
            row = {"permission": name}
            for role in roles:
                mine = [r.describe().removeprefix(r.who).strip() or "yes" for r in rules if r.who in (role, "anyone")]
                row[role] = "; ".join(mine) if mine else "—"
            rows.append(row)
        return rows

    def markdown(self) -> str:
        rows = self.table()
        head = list(rows[0]) if rows else ["permission"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r[h] for h in head) + " |" for r in rows]
        return "\n".join(lines)


def _first(refusals: list[AppError]) -> AppError:
    for kind in _PRIORITY:
        for r in refusals:
            if type(r) is kind or isinstance(r, kind):
                return r
    return refusals[0] if refusals else NotPermitted()


@dataclass
class Access:
    """A caller admitted to a permission by some rules; asks the record half of them."""

    principal: Principal | None
    permission: str
    rules: tuple[Rule, ...]
    refusals: list[AppError] = field(default_factory=list)

    def check(self, target: Target) -> Decision:
        """The decision for one record, or the refusal that says which question failed."""
        refusals: list[AppError] = []
        p = self.principal
        for rule in self.rules:
            if p is None or rule.who == "anyone":
                return Decision(p or Principal(sub="anonymous", role="anonymous", scopes=frozenset()), None, rule)
            if rule.channel and target.channel != rule.channel:
                refusals.append(NotOwner())
                continue
            if rule.scope is not None:
                hall = target.hall if rule.scope == "hall" else None
                if not p.in_scope(hall=hall, department=target.department):
                    refusals.append(OutsideScope(f"{self.permission}: outside your "
                                                 f"{'halls and departments' if rule.scope == 'hall' else 'departments'}"))
                    continue
            if rule.own:
                if target.owner is None:
                    refusals.append(NotOwner())
                    continue
                try:
                    acted_for = p.acting_for(target.owner, item=target.item, action=rule.action or "-")
                except (RealNameRequired, OutsideDelegation, NotOwner) as exc:
                    refusals.append(exc)
                    continue
                delegated = not (p.own_id == acted_for and p.company_role != "agent")
                return Decision(p, acted_for, rule, delegated)
            return Decision(p, None, rule)
        raise _first(refusals)

    def reach(self) -> tuple[Clause, ...]:
        """What a list may show, as OR-ed clauses (empty: nothing)."""
        p = self.principal
        out: list[Clause] = []
        for rule in self.rules:
            if p is None or rule.who == "anyone":
                out.append(Clause(channel=rule.channel))
                continue
            halls = departments = None
            if rule.scope is not None and p.role not in ("admin", "auditor"):
                departments = p.departments
                halls = p.halls if rule.scope == "hall" and p.role == "clerk" else None
            if not rule.own:
                out.append(Clause(halls=halls, departments=departments, channel=rule.channel))
                continue
            if p.own_id is not None and (p.role == "citizen" or p.company_role != "agent"):
                out.append(Clause(owner=p.own_id, halls=halls, departments=departments, channel=rule.channel))
            agent_for = p.agent_for
            if agent_for is not None and rule.action is not None:
                items = agent_for.items(rule.action, clock.now())
                if items:
                    out.append(Clause(owner=agent_for.id, items=items, halls=halls, departments=departments,
                                      channel=rule.channel))
        return tuple(out)


def admit(policy: Policy, permission: str, p: Principal | None) -> Access:
    """The caller half of `permission`: the rules this caller may use, or the best refusal."""
    rules = []
    role = p.role if p is not None else None
    for rule in policy[permission]:
        # Another role's rule refuses (NotPermitted) without asking more: skipped here, and the
        # refusals, built only when no rule admits the caller, are the same as ever.
        if (role is None or rule.who == role or rule.who == "anyone") and rule.admits(p) is None:
            rules.append(rule)
    if not rules:
        refusals = [r for rule in policy[permission] if (r := rule.admits(p)) is not None]
        raise _first([r for r in refusals if not isinstance(r, NotPermitted)] or refusals)
    return Access(p, permission, tuple(rules))


def allows(policy: Policy, permission: str, p: Principal | None) -> bool:
    """Whether the caller half of `permission` admits `p` (for what a route shows, not whether it answers)."""
    try:
        admit(policy, permission, p)
    except AppError:
        return False
    return True


class Authorize:
    """Route dependency: `Annotated[Access, Depends(Authorize(POLICY, "case.read"))]`.

    The route's permission is kept on the dependency so a matrix test can find, from the app
    alone, every route and the permission it declares (`declared_permission`)."""

    def __init__(self, policy: Policy, permission: str) -> None:
        if permission not in policy.permissions:
            raise KeyError(f"{policy.service} declares no permission {permission!r}")
        self.policy = policy
        self.permission = permission

    async def __call__(self, request: Request) -> Access:
        principal = await optional_principal(request)
        request.state.principal = principal
        request.state.permission = self.permission
        return admit(self.policy, self.permission, principal)


class AuthorizeCaller(Authorize):
    """`Authorize` answering the admitted Principal itself (a route that needs no record): one
    dependency rather than `Authorize` plus a second one reading its `principal`, each of which
    FastAPI solves on every request."""

    async def __call__(self, request: Request) -> Principal | None:  # type: ignore[override]
        return (await super().__call__(request)).principal


def declared_permission(route: Any) -> str | None:
    """The permission a route's `Authorize` dependency names (None: the route declares none)."""
    stack = list(getattr(route, "dependant", None).dependencies if getattr(route, "dependant", None) else [])
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Authorize):
            return dep.call.permission
        stack.extend(dep.dependencies)
    return None


def routes_of(app: Any) -> list[tuple[str, frozenset[str], Any]]:
    """(full path, methods, route) of every route an app serves, through included routers and
    mounts (FastAPI keeps an included router as one entry of `app.routes`)."""
    found: list[tuple[str, frozenset[str], Any]] = []

    def walk(routes: Iterable[Any], prefix: str) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                walk(included.routes, prefix + route.include_context.prefix)
            elif getattr(route, "routes", None) is not None and not hasattr(route, "methods"):
                walk(route.routes, prefix + getattr(route, "path", ""))
            else:
                found.append((prefix + route.path, frozenset(getattr(route, "methods", None) or ()), route))

    walk(app.routes, "")
    return found


def platform_public(prefix: str) -> tuple[str, ...]:
    """Paths every service serves outside its policy, public on purpose: the orchestrator's probes
    and metrics, and the service's OpenAPI and docs pages (tongban.shared.apidocs)."""
    return ("/healthz", "/readyz", "/metrics", f"{prefix}/openapi.json", f"{prefix}/docs", f"{prefix}/redoc",
            f"{prefix}/docs/oauth2-redirect", f"{prefix}/docs/assets/{{name}}")


def AccessTo(policy: Policy, permission: str) -> Any:
    return Annotated[Access, Depends(Authorize(policy, permission))]


def everyone() -> tuple[Rule, ...]:
    """A public permission: anyone, with a token or without (each role named, so the table shows it)."""
    return tuple(Rule(role) for role in ROLES)


class RouteHelpers(NamedTuple):
    """A service's three ways for a route to name its permission (`Can, Caller, Public = route_helpers(POLICY)`)."""

    can: Callable[[str], Any]
    caller: Callable[[str], Any]
    public: Callable[[str], Any]


def route_helpers(policy: Policy) -> RouteHelpers:
    """`access: Can("licence.read")` — the admitted caller, to check records with;
    `actor: Caller("issuer.write")` — a route that needs no record, only the admitted Principal;
    `dependencies=[Public("status.read")]` — the permission of a route that reads no caller."""

    def can(permission: str) -> Any:
        return Annotated[Access, Depends(Authorize(policy, permission))]

    def caller(permission: str) -> Any:
        return Annotated[Principal, Depends(AuthorizeCaller(policy, permission))]

    def public(permission: str) -> Any:
        return Depends(Authorize(policy, permission))

    return RouteHelpers(can, caller, public)


REFUSALS = (RealNameRequired, OutsideDelegation, OutsideScope, NotOwner)


def audit_refusals(app: FastAPI, audit: AuditTrail) -> None:
    """Every refusal of staff or of an agent goes to the audit trail, in a transaction of its own
    (the request's transaction rolls back with the refusal)."""

    async def handler(request: Request, exc: AppError) -> JSONResponse:
        p: Principal | None = getattr(request.state, "principal", None)
        if p is not None and (p.is_staff or p.claims.get("agent_for") or p.company_role == "agent"):
            try:
                async with request.app.state.sessionmaker() as s, s.begin():
                    await audit.record(s, p, "policy.refused", "route", f"{request.method} {request.url.path}",
                                       exc.code, {"permission": getattr(request.state, "permission", None),
                                                  "detail": exc.detail})
            except Exception:  # the refusal stands even if its audit record cannot be written
                log.exception("could not audit a refusal on %s", request.url.path)
        return problem_response(exc.status, exc.code, exc.title, exc.detail, request.url.path, **exc.extra)

    for kind in REFUSALS:
        app.add_exception_handler(kind, handler)  # type: ignore[arg-type]
