"""Who may do what in svc-cases, for whom, within which scope — the one place that says so.

Read top to bottom: each permission lists the rules that grant it (tongban.shared.policy.Rule).
Every route names its permission with `Authorize(POLICY, ...)` (or is listed in PUBLIC_ROUTES /
PLATFORM_ROUTES below); each aggregate asks the same table of each record (`Access.check`) and each
list (`Access.reach`). A case is keyed by its applicant's resident ID number or credit code, so
citizens reach it only from `verified` up; an agent reaches its principal's cases only for the
items and actions its delegations name; clerks reach the cases of their halls (online cases have
none) and departments, approvers those of their departments. Hotline tickets, ratings, remedies
and statistics are scoped the same way, by the record's department.

A refusal of the record half that would tell a stranger the record exists (`not_owner`) is 404;
every other refusal is 403 naming the question that failed.
"""

from tongban.shared.policy import Policy, Rule


# The applicant's side of a case: the applicant herself, or her agent within a delegation for
# the case's item and the action; a clerk for a walk-in applicant at a counter of their hall.
def _applicant(action: str, *, counter: bool = True) -> tuple[Rule, ...]:
    rules = (Rule("citizen", ("cases:apply",), level="verified", own=True, action=action),
             Rule("company", ("cases:apply",), own=True, action=action))
    if counter:
        rules += (Rule("clerk", ("cases:process",), scope="hall", channel="counter"),)
    return rules


def _signed_in(scope: str, roles: tuple[str, ...] = ("citizen", "company", "clerk", "approver", "admin",
                                                         "auditor")) -> tuple[Rule, ...]:
    """Anyone signed in to cases with `scope`: for what is nobody's personal data."""
    return tuple(Rule(role, (scope,)) for role in roles)


CLERK = Rule("clerk", ("cases:process",), scope="hall")
APPROVER = Rule("approver", ("cases:approve",), scope="department")
ADMIN = Rule("admin", ("cases:admin",))
ANYONE = (Rule("anyone"),)
# Finance staff: whoever holds `cases:finance` (admins by default; a finance officer's account is
# an admin-side account given that scope at the gateway).
FINANCE = (Rule("admin", ("cases:finance",)), Rule("approver", ("cases:finance",)))
READERS = (Rule("citizen", ("cases:read",), level="verified", own=True, action="read"),
           Rule("company", ("cases:read",), own=True, action="read"),
           Rule("clerk", ("cases:read",), scope="hall"),
           Rule("approver", ("cases:read",), scope="department"),
           Rule("admin", ("cases:read",)), Rule("auditor", ("cases:read",)),
           # svc-interop follows the cases it forwarded, and only those.
           Rule("service", ("cases:forward",), channel="partner"))
# Staff views of many records (ratings, remedies, statistics): by the records' departments.
STAFF_VIEW = (Rule("clerk", ("cases:read",), scope="hall"), Rule("approver", ("cases:read",), scope="department"),
              Rule("admin", ("cases:read",)), Rule("auditor", ("cases:read",)))

POLICY = Policy("cases", {
    # --- cases -----------------------------------------------------------------------------------
    "case.submit": (*_applicant("apply", counter=False), Rule("clerk", ("cases:process",), scope="hall")),
    "case.read": READERS,
    # One case by its id: its readers, and svc-credentials binding a counter consent to it (its
    # department, hall and applicant; the ID number masked). Not the lists: it looks up, never browses.
    "case.lookup": (*READERS, Rule("service", ("cases:lookup",))),
    "case.progress": ANYONE,                     # by number and lookup code, without personal data
    "case.worklist": (Rule("clerk", ("cases:read",), scope="hall"),
                      Rule("approver", ("cases:read",), scope="department"), Rule("admin", ("cases:read",))),
    # One route takes every step; the step's side decides which of these applies (case/steps.py).
    "case.act": (*_applicant("apply"), CLERK, APPROVER),
    "case.act.applicant": _applicant("apply"),
    "case.act.clerk": (CLERK,),
    "case.act.approver": (APPROVER,),
    "case.act.staff": (CLERK, APPROVER),
    # A partner city's case, relayed by svc-interop (the applicant is named in the body).
    "case.forward": (Rule("service", ("cases:forward",)),),
    # Documents carry more personal data than the case: its applicant side and the staff handling it.
    "case.materials.read": READERS[:4],
    "case.materials.add": _applicant("apply"),
    # A document: its uploader (UPLOADER_READS), else whoever may read the materials of a case listing it.
    "document.upload": (Rule("citizen", ("cases:apply",), level="verified"), Rule("company", ("cases:apply",)),
                        Rule("clerk", ("cases:process",))),
    "document.read": READERS[:4],
    # Notices and decisions (受理通知书 ... 决定书): issued and sealed by the case's staff, read by
    # its applicant side and its staff.
    "case_document.produce": (CLERK, APPROVER),
    "case_document.read": READERS[:4],
    # --- one-thing bundles: a bundle case is reached through its child cases -----------------------
    "bundle.submit": (*_applicant("apply", counter=False), Rule("clerk", ("cases:process",), scope="hall")),
    "bundle.read": READERS[:6],
    # --- ratings (好差评) and remedies (整改) --------------------------------------------------------
    "rating.submit": (Rule("citizen", ("cases:apply",), level="verified", own=True, action="apply"),
                      Rule("company", ("cases:apply",), own=True, action="apply")),
    "rating.read": STAFF_VIEW,
    "remedy.read": STAFF_VIEW,
    "remedy.close": (APPROVER, ADMIN),
    # --- 12345 hotline tickets and unresolved reports ------------------------------------------------
    # Anyone signed in may ask (a self-declared account too: the ticket is then not keyed by an ID
    # number it has not proved); a clerk takes calls.
    "ticket.open": (Rule("citizen", ("cases:apply",)), Rule("clerk", ("cases:process",))),
    "ticket.read": (Rule("citizen", ("cases:read",), level="verified", own=True, action="read"),
                    Rule("clerk", ("cases:read",), scope="hall"),
                    Rule("approver", ("cases:read",), scope="department"),
                    Rule("admin", ("cases:read",)), Rule("auditor", ("cases:read",))),
    # One route takes every step; the step's side decides which of these applies (ticket/service.py).
    "ticket.act": (Rule("citizen", ("cases:apply",), level="verified", own=True, action="apply"), CLERK, APPROVER),
    "ticket.act.clerk": (CLERK,),
    "ticket.act.department": (APPROVER,),
    "ticket.act.caller": (Rule("citizen", ("cases:apply",), level="verified", own=True, action="apply"), CLERK),
    # --- statistics of the legal clock: staff, by the cases they may reach ---------------------------
    "statistics.read": STAFF_VIEW,
    # --- the catalogue's read copy, item configuration and instant-approval rules --------------------
    "item.read": ANYONE,
    "item_config.form": ANYONE,                  # applicants need the form before they sign in
    "item_config.list": _signed_in("cases:read"),
    "item_config.manage": (ADMIN,),
    "rule.read": _signed_in("cases:read", ("clerk", "approver", "admin", "auditor")),
    "rule.manage": (ADMIN,),
    # --- unified payment (统一支付) ----------------------------------------------------------------------
    # A case's order: whoever reads the case; paying it: the applicant's side (a clerk at the counter).
    "payment.read": READERS[:6],
    "payment.pay": _applicant("apply"),
    # Providers' notifications: public, authenticated by the provider's signature only (payment/providers.py).
    "payment.callback": ANYONE,
    "payment.rule.read": _signed_in("cases:read", ("clerk", "approver", "admin", "auditor")),
    "payment.rule.manage": (ADMIN,),
    # 对账: finance staff (the `cases:finance` scope) run it; they and auditors read the results.
    "payment.reconcile": FINANCE,
    "payment.reconciliation.read": (*FINANCE, Rule("auditor", ("cases:read",))),
    # --- settings: the rating and hotline policies ------------------------------------------------
    "setting.read": _signed_in("cases:read"),
    "setting.manage": (ADMIN,),
    # --- the working-day calendar is no one's personal data: anyone signed in to cases reads it -------
    "calendar.read": _signed_in("cases:read"),
    "calendar.manage": (ADMIN,),
    # --- benefit policies (惠企/惠民政策: 免申即享, 即申即享): the policies are public knowledge to
    # anyone signed in; facts, matches and applications are the subject's own (an agent's within
    # its delegations: `read`, `apply` on the policy's item); grants by owner, department, or all.
    "benefit.read": _signed_in("cases:read"),
    "benefit.manage": (ADMIN,),
    "benefit.facts.read": (Rule("citizen", ("cases:read",), level="verified", own=True, action="read"),
                           Rule("company", ("cases:read",), own=True, action="read")),
    "benefit.facts.declare": (Rule("citizen", ("cases:apply",), level="verified", own=True, action="apply"),
                              Rule("company", ("cases:apply",), own=True, action="apply")),
    "benefit.apply": (Rule("citizen", ("cases:apply",), level="verified", own=True, action="apply"),
                      Rule("company", ("cases:apply",), own=True, action="apply")),
    "benefit.grant.account": (Rule("citizen", ("cases:apply",), level="verified", own=True, action="apply"),
                              Rule("company", ("cases:apply",), own=True, action="apply")),
    "benefit.grant.read": (Rule("citizen", ("cases:read",), level="verified", own=True, action="read"),
                           Rule("company", ("cases:read",), own=True, action="read"), *STAFF_VIEW),
    # --- credit (信用): a subject reads its own record, staff any (it decides how they handle a case);
    # admins add list entries; the follow-up checks of commitments by department.
    "credit.read": (Rule("citizen", ("cases:read",), level="verified", own=True, action="read"),
                    Rule("company", ("cases:read",), own=True, action="read"),
                    Rule("clerk", ("cases:read",)), Rule("approver", ("cases:read",)),
                    Rule("admin", ("cases:read",)), Rule("auditor", ("cases:read",))),
    "credit.manage": (ADMIN,),
    "commitment_check.read": STAFF_VIEW,
    "commitment_check.decide": (APPROVER, ADMIN),
    # --- the audit trail (the shared route, tongban.shared.audit) -------------------------------------
    "audit.read": (Rule("admin", ("audit:read",)), Rule("auditor", ("audit:read",))),
})

# Under these permissions the account that made the record reaches it too, whoever it acts for:
# the uploader of a document, the account that opened a hotline ticket.
UPLOADER_READS = frozenset({"document.read"})
OPENER_READS = frozenset({"ticket.read"})

# Routes the shared service mounts with scopes of their own (tongban.shared.audit): the permission
# of this table they answer to (the matrix test holds them to it).
PLATFORM_ROUTES = {"GET /api/v1/cases/audit-events": "audit.read"}
# Probes for the orchestrator, outside the API and its OpenAPI: public on purpose.
PUBLIC_ROUTES = ("/healthz", "/readyz", "/metrics")
