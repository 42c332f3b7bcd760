"""Who is calling: access-token verification against the gateway's JWKS, the Principal,
`Requires(scope)` for routes, and the three questions every policy asks of a caller
(tongban.shared.policy): how sure are we who it is (real-name level), for whom does it act
(itself, or a principal under a delegation), within which scope (a clerk's halls and
departments, an approver's departments).

Every service verifies the token itself (it never trusts a bare identity header). Verified
tokens are cached until `min(exp, now + 5 min)`: verifying an ES256 signature costs far more
than a dictionary lookup, and failures are never cached. Revocation is never cached: the
service's deny list (tongban.shared.revocation) is asked on every request.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from tongban.shared import clock
from tongban.shared.errors import AppError, Forbidden, Unauthorized
from tongban.shared.logging import note_caller

if TYPE_CHECKING:
    from tongban.shared.revocation import DenyList

log = logging.getLogger("tongban.auth")
ALGORITHMS = ["ES256", "EdDSA"]
CACHE_SECONDS = 300
CACHE_MAX = 50_000
# A refetch of the JWKS for an unknown kid happens at most this often (a flood of forged
# kids must not turn into a flood of requests to the gateway).
REFETCH_INTERVAL = 10.0

STAFF_ROLES = frozenset({"clerk", "approver", "admin", "auditor"})
REAL_NAME_LEVELS = ("self_declared", "verified", "counter_verified")
VERIFIED_LEVELS = frozenset({"verified", "counter_verified"})
COMPANY_ROLES = ("legal_representative", "administrator", "agent")
# What a delegation may grant, by name; each service's policy names the action a permission needs.
DELEGATION_ACTIONS = ("read", "apply", "act", "present", "consent", "seal")


class InvalidToken(Unauthorized):
    code, title = "invalid_token", "Invalid or expired access token"


class TokenExpired(InvalidToken):
    """The token was good but its `exp` has passed: refresh it (distinct from a bad token)."""

    code, title = "token_expired", "The access token has expired"


class TokenRevoked(InvalidToken):
    """The token verifies, but the login, delegation or account it rests on was revoked."""

    code, title = "token_revoked", "The access token was revoked"


REVOKED_DETAIL = "the login, delegation or account this token rests on was revoked; sign in again"


class InsufficientScope(Forbidden):
    code, title = "insufficient_scope", "The access token lacks the scope this needs"


class NotOwner(Forbidden):
    code, title = "not_owner", "This record belongs to someone else"


class RealNameRequired(Forbidden):
    """Records keyed by a resident's ID number are hers only from `verified` up."""

    code, title = "real_name_required", "This needs a verified real name"
    HOW = ("verify your real name first: POST /api/v1/auth/real-name/verifications (face + ID number "
           "through the real-name provider), or show your ID card at any service hall's counter")

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.HOW, **extra)


class OutsideDelegation(Forbidden):
    """The caller acts for someone else without a delegation covering this item and action."""

    code, title = "outside_delegation", "No delegation covers this"


class OutsideScope(Forbidden):
    """Staff acting outside their halls or departments."""

    code, title = "outside_scope", "Outside your halls or departments"


class ConsentRequired(Forbidden):
    code, title = "consent_required", "The holder's consent is required"


@dataclass(frozen=True, slots=True)
class Delegation:
    """One delegation (委托) an agent's token carries: items and actions granted until a time."""

    id: str
    items: frozenset[str]
    actions: frozenset[str]
    until: dt.datetime

    def covers(self, item: str | None, action: str, at: dt.datetime) -> bool:
        """`item=None` asks "on some item" (a list, filtered afterwards by `items`)."""
        if at >= self.until or action not in self.actions or not self.items:
            return False
        return item is None or item in self.items


@dataclass(frozen=True, slots=True)
class AgentFor:
    """For whom an agent acts (the `agent_for` claim): a person or a company, and how far."""

    kind: str                 # person | company
    id: str                   # the principal's resident ID number or credit code
    name: str | None
    delegations: tuple[Delegation, ...]

    @classmethod
    def parse(cls, raw: Any) -> AgentFor | None:
        """The claim as the gateway issues it; anything malformed grants nothing."""
        if not isinstance(raw, dict):
            return None
        kind = raw.get("kind") or ("company" if raw.get("credit_code") else "person")
        ident = raw.get("credit_code") if kind == "company" else raw.get("id_number")
        if kind not in ("person", "company") or not isinstance(ident, str) or not ident:
            return None
        found = []
        for d in raw.get("delegations") or ():
            if not isinstance(d, dict):
                continue
            try:
                until = dt.datetime.fromisoformat(str(d["until"]))
                if until.tzinfo is None:
                    continue
                found.append(Delegation(str(d["id"]), frozenset(map(str, d.get("items") or ())),
                                        frozenset(map(str, d.get("actions") or ())), until))
            except (KeyError, ValueError, TypeError):
                continue
        name = raw.get("name")
        return cls(kind, ident, name if isinstance(name, str) else None, tuple(found))

    def covering(self, item: str | None, action: str, at: dt.datetime) -> Delegation | None:
        return next((d for d in self.delegations if d.covers(item, action, at)), None)

    def items(self, action: str, at: dt.datetime) -> frozenset[str]:
        """Every item some live delegation grants `action` on (what a list may show)."""
        return frozenset(i for d in self.delegations if d.covers(None, action, at) for i in d.items)


def _codes(claims: dict[str, Any], plural: str, singular: str) -> frozenset[str]:
    found = claims.get(plural)
    if isinstance(found, list):
        return frozenset(str(c) for c in found)
    one = claims.get(singular)
    return frozenset({str(one)}) if one else frozenset()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, read from a verified access token."""

    sub: str
    role: str
    scopes: frozenset[str]
    name: str | None = None
    id_number: str | None = None      # citizens: resident ID number
    credit_code: str | None = None    # company users: their company
    department: str | None = None     # approvers: department credit code or code
    hall: str | None = None           # clerks: their hall
    partner: str | None = None        # partner systems: region code
    token_id: str | None = None
    real_name_level: str | None = None   # citizens: self_declared | verified | counter_verified
    company_role: str | None = None      # company users: legal_representative | administrator | agent
    halls: frozenset[str] = frozenset()        # clerks: every hall they serve (with `hall`)
    departments: frozenset[str] = frozenset()  # clerks and approvers (with `department`)
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Tokens issued before the lists existed carry the singular claims only.
        if not self.halls and self.hall:
            object.__setattr__(self, "halls", frozenset({self.hall}))
        if not self.departments and self.department:
            object.__setattr__(self, "departments", frozenset({self.department}))

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        halls, departments = _codes(claims, "halls", "hall"), _codes(claims, "departments", "department")
        return cls(
            sub=str(claims["sub"]), role=str(claims.get("role", "")),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            name=claims.get("name"), id_number=claims.get("id_number"), credit_code=claims.get("credit_code"),
            department=claims.get("department") or (min(departments) if departments else None),
            hall=claims.get("hall") or (min(halls) if halls else None), partner=claims.get("partner"),
            token_id=claims.get("jti"), real_name_level=claims.get("real_name_level"),
            company_role=claims.get("company_role"), halls=halls, departments=departments, claims=claims,
        )

    @property
    def verified(self) -> bool:
        """A real-name provider or a clerk checked who this is."""
        return self.real_name_level in VERIFIED_LEVELS

    @property
    def agent_for(self) -> AgentFor | None:
        return AgentFor.parse(self.claims.get("agent_for"))

    @property
    def own_id(self) -> str | None:
        """The subject this caller is: a citizen's ID number, a company user's credit code."""
        if self.role == "company":
            return self.credit_code
        return self.id_number if self.role == "citizen" else None

    def acting_for(self, subject: str, *, item: str | None = None, action: str = "read",
                   at: dt.datetime | None = None) -> str:
        """May this caller act for `subject` (a resident ID number or a credit code) on `item`
        with `action`? Returns the principal acted for (the subject), or raises the refusal
        that says which question failed: RealNameRequired, OutsideDelegation or NotOwner.

        A citizen is herself only from `verified` up; a company's legal representative and
        administrators are the company; an agent (a company's, or a person acting for another
        person) only within a live delegation covering the item and the action."""
        if self.role == "citizen" and not self.verified:
            if self.id_number == subject or self.claims.get("agent_for"):
                raise RealNameRequired()
            raise NotOwner()
        if self.own_id == subject and (self.role == "citizen" or self.company_role != "agent"):
            return subject
        agent_for = self.agent_for
        if agent_for is not None and agent_for.id == subject:
            when = at or clock.now()
            if agent_for.covering(item, action, when) is None:
                what = f"item {item}" if item else "any item"
                raise OutsideDelegation(f"no live delegation lets you {action} on {what} for this principal")
            return subject
        if self.own_id == subject:  # a company's agent without a delegation is not the company
            raise OutsideDelegation("a company's agent acts only within its delegations")
        raise NotOwner()

    def in_scope(self, *, hall: str | None = None, department: str | None = None) -> bool:
        """Staff scope: a clerk within their halls and departments, an approver within their
        departments; admins and auditors everywhere. A record without a hall (an online case)
        is in a clerk's scope by its department alone."""
        if self.role in ("admin", "auditor"):
            return True
        if self.role == "clerk":
            return (hall is None or hall in self.halls) and (department is None or department in self.departments)
        if self.role == "approver":
            return department is not None and department in self.departments
        return False

    def ensure_scope(self, *, hall: str | None = None, department: str | None = None) -> None:
        if not self.in_scope(hall=hall, department=department):
            raise OutsideScope(f"your {self.role} scope does not include this record's "
                               f"{'hall and ' if self.role == 'clerk' and hall else ''}department")

    # What the deny list reads (tongban.shared.revocation).
    @property
    def iat(self) -> float:
        return float(self.claims.get("iat", 0))

    @property
    def sid(self) -> str | None:
        """The login (refresh-token family) that produced the token."""
        sid = self.claims.get("sid")
        return sid if isinstance(sid, str) else None

    @property
    def delegations(self) -> tuple[str, ...]:
        """An agent's token: the ids of the delegations its `agent_for` rests on (the deny list
        refuses the token once one of them is revoked)."""
        agent_for = self.claims.get("agent_for")
        found = agent_for.get("delegations") if isinstance(agent_for, dict) else None
        if not isinstance(found, list):
            return ()
        return tuple(str(d.get("id")) if isinstance(d, dict) else str(d) for d in found)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def ensure_owner(
    principal: Principal, *, person: str | None = None, company: str | None = None,
    department: str | None = None, staff_scope: str | None = None,
) -> None:
    """Allow the record's owner, or staff holding `staff_scope` (approvers only for their department).

    A citizen owns records with their resident ID number; a company user those of their
    company's credit code; an approver sees records of their own department.
    """
    if person is not None and principal.id_number == person:
        return
    if company is not None and principal.credit_code == company:
        return
    if staff_scope and principal.is_staff and principal.has(staff_scope):
        if principal.role != "approver" or department is None or principal.department == department:
            return
    raise NotOwner()


# People (citizens, company users) reach some services only on a few routes: their tokens carry
# the narrower audience `<service>:people`, never the service's own, and the service (and the
# gateway before it) accepts them on these routes only. Anything else of svc-interop is for staff,
# partner systems and services.
PEOPLE_ROUTES: dict[str, tuple[str, ...]] = {"interop": ("/outgoing-cases", "/partner-licences")}


def people_audience(service: str) -> str:
    return f"{service}:people"


def people_route_refused(principal: Principal, path: str) -> str | None:
    """The service whose people-only audience is all this token has for `path`, when `path` is not
    one of that service's people routes; None when the token may be used there."""
    aud = principal.claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    for service, routes in PEOPLE_ROUTES.items():
        prefix = f"/api/v1/{service}"
        rest = path[len(prefix):]
        if (path == prefix or path.startswith(prefix + "/")) and service not in auds and (
                "/." in rest or not any(rest == r or rest.startswith(r + "/") for r in routes)):
            return service
    return None


def parse_bearer(value: str) -> str:
    """The token of an `Authorization` value: one rule for the gateway and every service."""
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("use 'Authorization: Bearer <token>'")
    return token


def _b64json(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded))
    if not isinstance(value, dict):
        raise ValueError("the JOSE header is not a JSON object")
    return value


class TokenVerifier:
    """Verifies access tokens for one audience with keys from a JWKS (URL or static JSON)."""

    def __init__(self, audience: str, issuer: str, jwks_url: str | None = None, jwks_json: str | None = None,
                 denylist: DenyList | None = None):
        self.audience = audience
        # PyJWT accepts a token naming any of these; a people-only one is held to PEOPLE_ROUTES.
        self.audiences = [audience, people_audience(audience)] if audience in PEOPLE_ROUTES else [audience]
        self.denylist = denylist      # revoked tokens are refused after the signature (never cached)
        self.issuer = issuer
        self.jwks_url = jwks_url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._cache: dict[str, tuple[float, Principal]] = {}
        if jwks_json:
            self._load(json.loads(jwks_json))

    def _load(self, jwks: dict[str, Any]) -> None:
        keys = {}
        for k in jwks.get("keys", []):
            try:
                keys[k["kid"]] = jwt.PyJWK(k)
            except (KeyError, jwt.PyJWKError) as exc:
                log.warning("skipping unusable key in JWKS: %s", exc)
        self._keys = keys

    async def _refresh(self) -> None:
        if not self.jwks_url or time.monotonic() - self._fetched_at < REFETCH_INTERVAL:
            return
        self._fetched_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=3.0) as client:
                resp = await client.get(self.jwks_url)
                resp.raise_for_status()
                self._load(resp.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("could not fetch the JWKS from %s: %s", self.jwks_url, exc)

    async def verify(self, token: str) -> Principal:
        principal = await self._verified(token)
        denylist = self.denylist
        if denylist is not None and not denylist.empty and denylist.refuses(principal):
            raise TokenRevoked(REVOKED_DETAIL)
        return principal

    async def _verified(self, token: str) -> Principal:
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            header = _b64json(token.split(".", 1)[0])
        except (ValueError, IndexError, RecursionError) as exc:
            raise InvalidToken("the token is not a JWS") from exc
        kid = header.get("kid")
        if header.get("alg") not in ALGORITHMS or not isinstance(kid, str):
            raise InvalidToken("the token's algorithm or key id is not accepted")
        if kid not in self._keys:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("the token was signed with an unknown key")
        try:
            claims = jwt.decode(
                token, key=key, algorithms=[key.algorithm_name], audience=self.audiences, issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired("the access token has expired; refresh it or sign in again") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        except (ValueError, TypeError, RecursionError) as exc:  # claims PyJWT itself cannot read
            raise InvalidToken("the token's claims cannot be read") from exc
        try:
            principal = Principal.from_claims(claims)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("the token's claims cannot be read") from exc
        if len(self._cache) >= CACHE_MAX:
            self._cache = {t: v for t, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
        self._cache[token] = (min(float(claims["exp"]), now + CACHE_SECONDS), principal)
        return principal


def bearer_token(request: Request) -> str | None:
    # A repeated Authorization never gets here (tongban.shared.framing refuses it); an empty one
    # is refused as the gateway refuses it, not taken for no header.
    value = request.headers.get("authorization")
    if value is None:
        return None
    return parse_bearer(value)


async def optional_principal(request: Request) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    principal = await request.app.state.token_verifier.verify(token)
    if (service := people_route_refused(principal, request.scope["path"])) is not None:
        raise InsufficientScope(f"people reach only {', '.join(PEOPLE_ROUTES[service])} of {service}")
    note_caller(principal.sub)  # the access-log line names the verified caller
    return principal


class Requires:
    """Route dependency: a verified caller holding every listed scope (none = any caller)."""

    def __init__(self, *scopes: str) -> None:
        self.scopes = scopes

    async def __call__(self, request: Request) -> Principal:
        principal = await optional_principal(request)
        if principal is None:
            raise Unauthorized("this needs an access token")
        missing = [s for s in self.scopes if not principal.has(s)]
        if missing:
            raise InsufficientScope(f"missing scope: {' '.join(missing)}")
        return principal


AnyPrincipal = Annotated[Principal, Depends(Requires())]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]

AUTH_ERRORS: tuple[type[AppError], ...] = (Unauthorized, InsufficientScope)
