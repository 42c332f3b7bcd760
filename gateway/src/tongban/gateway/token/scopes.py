"""What each role may do, in one place: the scopes its access tokens carry and the services
(the token's audience) it may reach through the gateway.

`accounts:*` scopes are the gateway's own: verify a citizen's real name at a counter (clerks),
delegate items to agents (company users; only the legal representative succeeds), read and
create accounts (admins; auditors read). Partner systems get the scopes of their client
record, always within PARTNER_SCOPES, and reach only the interop service."""

from tongban.shared.auth import PEOPLE_ROUTES, people_audience

ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    "citizen": ("catalog:read", "cases:apply", "cases:read", "credentials:read", "queue:book", "accounts:delegate"),
    "company": ("catalog:read", "cases:apply", "cases:read", "credentials:read", "credentials:seal", "queue:book",
                "accounts:delegate"),
    "clerk": ("catalog:read", "cases:read", "cases:process", "credentials:read", "queue:operate",
              "accounts:verify"),
    "approver": ("catalog:read", "cases:read", "cases:approve", "credentials:issue", "credentials:use"),
    # cases:finance: unified payment's reconciliation (对账) in svc-cases.
    "admin": ("catalog:read", "catalog:write", "cases:read", "cases:admin", "cases:finance", "credentials:admin",
              "queue:admin", "queue:dashboard", "interop:admin", "audit:read", "accounts:read", "accounts:admin"),
    # Auditors oversee (the city's managers among them): they read the city's service dashboard.
    "auditor": ("catalog:read", "cases:read", "audit:read", "accounts:read", "queue:dashboard"),
}
PARTNER_SCOPES = ("interop:exchange", "interop:verify")

ALL_AUDIENCES = ("gateway", "catalog", "cases", "credentials", "queue", "interop")
# svc-interop is mostly for staff and partner systems; people reach only the routes that show
# them their own cross-city business (PEOPLE_INTEROP_ROUTES): their tokens carry the audience
# `interop:people`, never `interop`, and both the gateway and svc-interop hold that audience to
# those routes (tongban.shared.auth.PEOPLE_ROUTES).
PEOPLE_INTEROP_ROUTES = PEOPLE_ROUTES["interop"]
_PUBLIC_AUDIENCES = (*(a for a in ALL_AUDIENCES if a != "interop"), people_audience("interop"))

ROLE_AUDIENCES: dict[str, tuple[str, ...]] = {
    "citizen": _PUBLIC_AUDIENCES,
    "company": _PUBLIC_AUDIENCES,
    "clerk": ALL_AUDIENCES,
    "approver": ALL_AUDIENCES,
    "admin": ALL_AUDIENCES,
    "auditor": ALL_AUDIENCES,
}
# Partner systems are OAuth clients, not accounts: their tokens (role "partner") reach interop only.
PARTNER_AUDIENCES = ("interop",)

# Services are OAuth clients too (client `svc-<name>`, role "service"), for the calls one service
# makes to another's internal API (tongban.shared.service_auth): svc-cases confirms an applicant's
# licence and records its use under the consent given with the submission; svc-credentials reads
# the case a counter consent is bound to; svc-interop opens forwarded cases, keeps the partner's
# issuer keys in the trust list, reads the catalogue and has a holder's licences listed and
# presented for the partner city.
SERVICE_SCOPES: dict[str, tuple[str, ...]] = {
    "cases": ("credentials:read", "credentials:use", "credentials:seal_documents"),
    "credentials": ("cases:lookup",),   # reads one case to bind a counter consent (case.lookup)
    # Not cases:read: svc-interop only opens forwarded cases (and svc-cases lets it read those by
    # cases:forward); a service holding cases:read reads every case.
    "interop": ("catalog:read", "cases:forward", "credentials:read", "credentials:trust", "credentials:present"),
}


def audiences_of(scopes: tuple[str, ...]) -> tuple[str, ...]:
    """The services a set of scopes reaches: each scope's prefix names its service."""
    return tuple(a for a in ALL_AUDIENCES if any(s.split(":", 1)[0] == a for s in scopes))
