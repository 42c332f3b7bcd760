"""Who may do what in svc-interop, in one table (tongban.shared.policy): every route names one of
these permissions and nothing else decides who may call it. Read top to bottom.

Four kinds of caller reach this service:
- partner cities' systems (role `partner`, `interop:exchange`) on the exchange endpoints only
  (`exchange.<message type>`). The edge (exchange/middleware.py) authenticates the partner's token
  and the message's signature before anything is stored; the rule here is the same first
  question, asked again at the route, and which message types a partner may send is its grant
  (the partner record), checked on the message;
- staff: clerks accept and forward cases and refer hotline tickets; staff with `cases:read` follow
  forwarded cases and referrals; admins (`interop:admin`) manage partners and deliveries;
  auditors and admins read the hash-chained message log;
- people (citizens, company users) only on their people routes (tongban.shared.auth.PEOPLE_ROUTES:
  `/outgoing-cases`, `/partner-licences`): their tokens carry the audience `interop:people` and
  are refused everywhere else before any rule is read. A forwarded case is its applicant's (from
  `verified` up, or her agent's within a delegation for its item); partner licences are the
  holder's own, asked of the partner city under her signed consent;
- nobody else: our own services call other services, not this one.

A referral carries the hotline caller's name and phone: staff read every referral, but see the
caller only where they are in scope (`referral.caller`: the clerk who referred it, admins,
auditors); everyone else sees the caller masked.
"""

from tongban.shared.auth import InsufficientScope, NotOwner, OutsideDelegation, RealNameRequired
from tongban.shared.errors import Unauthorized
from tongban.shared.policy import NotPermitted, Policy, Rule, everyone, platform_public, route_helpers

PARTNER = (Rule("partner", scopes=("interop:exchange",)),)
ADMIN = Rule("admin", scopes=("interop:admin",))
CLERK = Rule("clerk", scopes=("cases:process",))
STAFF_READERS = tuple(Rule(role, scopes=("cases:read",)) for role in ("clerk", "approver", "admin", "auditor"))
# Message types a partner city sends us (partner/schemas.py Service): one permission each.
MESSAGES = ("discovery", "case.forward", "case.status", "company.migrate", "hotline.refer", "hotline.status",
            "credentials.keys", "credentials.verify", "credentials.present")

POLICY = Policy("interop", {
    # Our city's identity and public keys, and the partner cities' cross-city items: public.
    "identity.read": everyone(),
    "partner_item.read": everyone(),
    # The partner registry, its keys, pulls and our outbound queue: interop admins.
    "partner.read": (ADMIN,),
    "partner.manage": (ADMIN,),
    "partner.sync": (ADMIN,),
    "delivery.read": (ADMIN,),
    # The signed exchange: partner systems, each message type granted per partner.
    **{f"exchange.{m}": PARTNER for m in MESSAGES},
    # Cases accepted here for a partner city's item (异地受理) and cases partners forwarded to us.
    "outgoing_case.forward": (CLERK,),
    "outgoing_case.list": STAFF_READERS,
    "outgoing_case.read": (Rule("citizen", scopes=("cases:read",), level="verified", own=True, action="read"),
                           Rule("company", scopes=("cases:read",), own=True, action="read"), *STAFF_READERS),
    "incoming_case.read": STAFF_READERS,
    # 12345 hotline referrals between the cities; the caller's personal data only in scope.
    "referral.create": (CLERK,),
    "referral.read": STAFF_READERS,
    "referral.caller": (CLERK, ADMIN, Rule("auditor", scopes=("audit:read",))),
    # A partner city's licence presentation verified online by the partner, for a clerk here.
    "partner_verification.ask": (CLERK,),
    # The resident's (or her company's) licences issued by a partner city, under her own consent.
    "partner_licence.read": (Rule("citizen", scopes=("credentials:read",), level="verified", own=True, action="read"),
                             Rule("company", scopes=("credentials:read",), own=True, action="read")),
    "partner_licence.present": (Rule("citizen", scopes=("credentials:read",), level="verified", own=True,
                                     action="present"),
                                Rule("company", scopes=("credentials:read",), own=True, action="present")),
    # The hash-chained message log (ledger) and the shared audit trail.
    "ledger.read": (ADMIN, Rule("auditor", scopes=("audit:read",))),
    "audit.read": (Rule("admin", scopes=("audit:read",)), Rule("auditor", scopes=("audit:read",))),
})

# Under this permission a clerk sees the caller of the referrals their own account made (outbound);
# admins and auditors see every caller (referral/router.py).
REFERRER_READS = frozenset({"referral.caller"})
# Asked of a record inside a route, not named by a route of its own.
RECORD_PERMISSIONS = frozenset({"referral.caller"})
# Shared routes the service mounts with their own dependency: the permission they stand for.
PLATFORM_ROUTES = {"GET /api/v1/interop/audit-events": "audit.read"}
# Probes, metrics, the OpenAPI and its docs page: public on purpose, outside the table.
PUBLIC_ROUTES = platform_public("/api/v1/interop")
ERRORS = (Unauthorized, InsufficientScope, NotPermitted, RealNameRequired, OutsideDelegation, NotOwner)

# How routes name their permission (tongban.shared.policy.route_helpers).
Can, Caller, Public = route_helpers(POLICY)
