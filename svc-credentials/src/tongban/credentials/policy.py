"""Who may do what in svc-credentials, in one table (tongban.shared.policy): every route names
one of these permissions and nothing else decides who may call it. Read top to bottom.

`own=True`: the caller's own record — a resident's (only from `verified` up) or a company's
(its legal representative and administrators) — or its principal's, when the caller is that
principal's agent under a live delegation granting `action` (`read`, `present`, `consent`,
`seal`). A company's agent holds nothing of the company's beyond its delegations.
`scope="department"`: the caller's departments; `scope="hall"`: a clerk's halls and departments.
"""


from tongban.shared.auth import (
    InsufficientScope,
    NotOwner,
    OutsideDelegation,
    OutsideScope,
    RealNameRequired,
)
from tongban.shared.errors import Unauthorized
from tongban.shared.policy import NotPermitted, Policy, Rule, everyone, route_helpers

VERIFIED = "verified"
ADMIN = Rule("admin", scopes=("credentials:admin",))
ISSUING_STAFF = Rule("approver", scopes=("credentials:issue",), scope="department")
SEAL = ("credentials:seal",)


def holders(action: str, scopes: tuple[str, ...] = ("credentials:read",)) -> tuple[Rule, ...]:
    """A resident from `verified` up, a company's representatives, and their agents with `action`."""
    return (Rule("citizen", scopes=scopes, level=VERIFIED, own=True, action=action),
            Rule("company", scopes=scopes, own=True, action=action))


POLICY = Policy("credentials", {
    # Licence types, and all a verifier needs (status, status lists, keys, verification): public.
    "licence_type.read": everyone(),
    "licence_type.write": (ADMIN,),
    "status.read": everyone(),
    "presentation.verify": everyone(),
    "issuer.read": everyone(),
    "issuer.write": (ADMIN,),
    # Licences: the holder's from `verified` up; the issuing department's staff; admins.
    "licence.issue": (ISSUING_STAFF, ADMIN),
    "licence.wallet": holders("read"),
    "licence.read": (*holders("read"), ISSUING_STAFF, ADMIN),
    "licence.change": (ISSUING_STAFF, ADMIN),
    "licence.status": (ISSUING_STAFF, ADMIN),
    "licence.present": holders("present"),
    # Consent and use (用证): a consent is bound to one case and its department; a counter consent
    # to a case svc-cases knows at the clerk's hall; a use to a consent of the same case and department.
    "consent.give": (*holders("consent"), Rule("clerk", scopes=("credentials:read",), scope="hall")),
    "consent.withdraw": holders("consent"),
    "consent.list": holders("read"),
    "licence_use.list": holders("read"),
    "licence_use.create": (Rule("approver", scopes=("credentials:use",), scope="department"),
                           Rule("service", scopes=("credentials:use",))),
    # Seals (电子印章): the legal representative manages; agents apply under a `seal` delegation (or a
    # seal delegation naming their account, seal/service.py); every use names actor and company.
    "seal.create": (Rule("company", scopes=SEAL, own=True), ADMIN),
    "seal.read": (Rule("company", scopes=SEAL, own=True, action="seal"), ADMIN),
    "seal.manage": (Rule("company", scopes=SEAL, own=True), ADMIN),
    "seal.delegate": (Rule("company", scopes=SEAL, own=True),),
    "seal.apply": (Rule("company", scopes=SEAL),),
    "seal_use.list": (Rule("company", scopes=SEAL), ADMIN),
    "seal.verify": everyone(),
    # Notices and decisions (受理通知书, 决定书 ...): svc-cases has them sealed with the department's
    # seal (as itself, naming the case's department); anyone checks a sealed PDF.
    "document.seal": (Rule("service", scopes=("credentials:seal_documents",)),),
    "document.verify": everyone(),
    "registration_item.manage": (ADMIN,),
    # Mutual recognition (深中互认).
    "trust.write": (Rule("service", scopes=("credentials:trust",)), ADMIN),
    "trust.read": (Rule("service", scopes=("credentials:trust",)), ADMIN),
    "mapping.read": everyone(),
    "mapping.write": (ADMIN,),
    # The partner city (深中通办): svc-interop, carrying the holder's signed consent token.
    "holder.partner_access": (Rule("service", scopes=("credentials:present",)),),
    "holder.partner_consent": holders("consent"),
    # The shared audit trail route.
    "audit.read": (Rule("admin", scopes=("audit:read",)), Rule("auditor", scopes=("audit:read",))),
})

# Shared routes the service mounts with their own dependency: the permission they stand for.
PLATFORM_ROUTES = {"GET /api/v1/credentials/audit-events": "audit.read"}
ERRORS = (Unauthorized, InsufficientScope, NotPermitted, RealNameRequired, OutsideDelegation, OutsideScope,
          NotOwner)


# How routes name their permission (tongban.shared.policy.route_helpers).
Can, Caller, Public = route_helpers(POLICY)
