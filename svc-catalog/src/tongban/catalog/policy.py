"""Who may do what in svc-catalog, in one table (tongban.shared.policy): every route names one of
these permissions and nothing else decides who may call it. Read top to bottom.

The catalogue is public information: anyone, signed in or not, browses items, implementations,
bundles, guides, benchmarks and search. Editing it is for admins holding `catalog:write`; a
draft item is shown to them only (`item.draft.read`, asked by the item routes of each record).
Nothing here is anyone's personal data, so no rule needs a real-name level, a delegation or a
staff scope.
"""

from tongban.shared.auth import InsufficientScope
from tongban.shared.errors import Unauthorized
from tongban.shared.policy import NotPermitted, Policy, Rule, everyone, platform_public, route_helpers

EDITOR = Rule("admin", scopes=("catalog:write",))

POLICY = Policy("catalog", {
    # Standard items (事项): public reads; drafts and edits for catalogue editors.
    "item.read": everyone(),
    "item.draft.read": (EDITOR,),
    "item.write": (EDITOR,),
    # A city's implementations (实施清单), their guides (办事指南) and the two-city benchmark (对标).
    "implementation.read": everyone(),
    "implementation.write": (EDITOR,),
    "benchmark.read": everyone(),
    # One-thing bundles (一件事).
    "bundle.read": everyone(),
    "bundle.write": (EDITOR,),
    # Search over the published catalogue.
    "search": everyone(),
    # The shared audit trail route.
    "audit.read": (Rule("admin", scopes=("audit:read",)), Rule("auditor", scopes=("audit:read",))),
})

# Asked of a record inside a route, not named by a route of its own.
RECORD_PERMISSIONS = frozenset({"item.draft.read"})
# Shared routes the service mounts with their own dependency: the permission they stand for.
PLATFORM_ROUTES = {"GET /api/v1/catalog/audit-events": "audit.read"}
# Probes, metrics, the OpenAPI and its docs page: public on purpose, outside the table.
PUBLIC_ROUTES = platform_public("/api/v1/catalog")
ERRORS = (Unauthorized, InsufficientScope, NotPermitted)

# How routes name their permission (tongban.shared.policy.route_helpers).
Can, Caller, Public = route_helpers(POLICY)
