"""Who may do what on the gateway's own routes (/auth/*, /.well-known/jwks.json), in one table
(tongban.shared.policy): every route names one of these permissions and nothing else decides who
may call it. Read top to bottom. The proxy (`/api/v1/<service>/...`) is not a route of this app:
each service answers for its own routes with its own policy.

Signing in and signing up are public (the token endpoint authenticates the client or the
password itself; registration answers the same whether or not the name is taken). Accounts,
clients and signing keys are for admins (`accounts:admin`); admins and auditors read accounts and
clients (`accounts:read`). A clerk raises a citizen's real-name level at the counter and witnesses
a delegation signed there (`accounts:verify`). People delegate online: a citizen from `verified`
up, a company's legal representative or administrator — never a company's agent, who acts only
within the delegations it was given.
"""

from tongban.shared.auth import InsufficientScope, NotOwner, OutsideDelegation, RealNameRequired
from tongban.shared.errors import Unauthorized
from tongban.shared.policy import ROLES, NotPermitted, Policy, Rule, everyone, platform_public, route_helpers

ADMIN = Rule("admin", scopes=("accounts:admin",))
READERS = (Rule("admin", scopes=("accounts:read",)), Rule("auditor", scopes=("accounts:read",)))
WITNESS = Rule("clerk", scopes=("accounts:verify",))
SIGNED_IN = tuple(Rule(role) for role in ROLES if role != "anonymous")
ACCOUNTS = tuple(Rule(role) for role in ("citizen", "company", "clerk", "approver", "admin", "auditor"))
PRINCIPALS = (Rule("citizen", scopes=("accounts:delegate",), level="verified", own=True),
              Rule("company", scopes=("accounts:delegate",), own=True))

POLICY = Policy("gateway", {
    # Tokens: issued to whoever proves who it is; the keys that check them are public.
    "token.issue": everyone(),
    "token.revoke": everyone(),            # RFC 7009: the token itself is the credential
    "jwks.read": everyone(),
    "session.logout": SIGNED_IN,
    "userinfo.read": SIGNED_IN,
    "signing_key.manage": (ADMIN,),
    # Machine clients: partner cities' systems and our own services.
    "client.create": (ADMIN,),
    "client.read": READERS,
    "client.switch": (ADMIN,),
    # Accounts: self-registration is public; the rest is admins' (auditors read).
    "account.register": everyone(),
    "account.create": (ADMIN,),
    "account.list": READERS,
    # One account: its owner whole (the route's record rule), holders of `accounts:read` masked.
    "account.read": SIGNED_IN,
    "account.read.any": READERS,
    "account.scope": (ADMIN,),
    "account.switch": (ADMIN,),
    # Real-name assurance: a citizen through the provider; a clerk who saw the ID card.
    "real_name.verify": (Rule("citizen"),),
    "real_name.counter_verify": (WITNESS,),
    # The development stand-in of the real-name provider (404 where none is configured).
    "real_name.local_provider": everyone(),
    # WeChat (wechat/): a citizen binds a WeChat user or confirms a phone number once her real
    # name is verified (a WeChat login then reaches what her password does); she lists and
    # removes her own bindings.
    "wechat.bind": (Rule("citizen", level="verified"),),
    "wechat.own": (Rule("citizen"),),
    # Delegations (委托): granted online by the principal, witnessed by a clerk at the counter;
    # listed by principals and agents; revoked by the principal or at a counter.
    "delegation.grant": PRINCIPALS,
    "delegation.witness": (WITNESS,),
    "delegation.list": (Rule("citizen"), Rule("company")),
    "delegation.revoke": (*PRINCIPALS, WITNESS),
    # The merged OpenAPI of every service and its docs page.
    "docs.read": everyone(),
    # Notifications (notify/): every account reads its own inbox and sets its own preferences;
    # residents record their one-time WeChat subscribe authorisations; admins see deliveries (auditors
    # read them), retry dead letters, name who hears of overdue cases, and read the local sink.
    "notify.inbox": ACCOUNTS,
    "notify.preferences": ACCOUNTS,
    "notify.wechat_authorise": (Rule("citizen"), Rule("company")),
    "notify.delivery.read": READERS,
    "notify.delivery.retry": (ADMIN,),
    "notify.escalation.read": READERS,
    "notify.escalation.manage": (ADMIN,),
    "notify.sink.read": (ADMIN,),
    # The shared audit trail route.
    "audit.read": (Rule("admin", scopes=("audit:read",)), Rule("auditor", scopes=("audit:read",))),
})

# Asked of a record inside a route, not named by a route of its own.
RECORD_PERMISSIONS = frozenset({"account.read.any"})
PLATFORM_ROUTES = {"GET /api/v1/gateway/audit-events": "audit.read",
                   # These read their own credentials (HTTP Basic, a form, the token being revoked):
                   # a bearer check in front of them would refuse a client's Basic header.
                   "POST /auth/token": "token.issue", "POST /auth/revoke": "token.revoke"}
# Probes, metrics, the gateway app's own OpenAPI and docs page: public on purpose, outside the table.
PUBLIC_ROUTES = platform_public("/api/v1/gateway")
ERRORS = (Unauthorized, InsufficientScope, NotPermitted, RealNameRequired, OutsideDelegation, NotOwner)

# How routes name their permission (tongban.shared.policy.route_helpers).
Can, Caller, Public = route_helpers(POLICY)
