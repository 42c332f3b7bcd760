"""Who may do what in svc-cases, for whom, within which scope — the one place that says so.

Read top to bottom: each permission lists the rules that grant it (tongban.shared.policy.Rule).
Routes name their permission with `Authorize(POLICY, ...)`; the case service asks the same table
for each record (`check`) and each list (`reach`). A case is keyed by its applicant's resident ID
number or credit code, so citizens reach it only from `verified` up; an agent reaches its
principal's cases only for the items and actions its delegations name; clerks reach the cases of
their halls (online cases have none) and departments, approvers those of their departments.
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


CLERK = Rule("clerk", ("cases:process",), scope="hall")
APPROVER = Rule("approver", ("cases:approve",), scope="department")
READERS = (Rule("citizen", ("cases:read",), level="verified", own=True, action="read"),
           Rule("company", ("cases:read",), own=True, action="read"),
           Rule("clerk", ("cases:read",), scope="hall"),
           Rule("approver", ("cases:read",), scope="department"),
           Rule("admin", ("cases:read",)), Rule("auditor", ("cases:read",)),
           # svc-interop follows the cases it forwarded, and only those.
           Rule("service", ("cases:forward",), channel="partner"))

POLICY = Policy("cases", {
    "case.submit": (*_applicant("apply", counter=False), Rule("clerk", ("cases:process",), scope="hall")),
    "case.read": READERS,
    "case.progress": (Rule("anyone"),),          # by number and lookup code, without personal data
    "case.worklist": (Rule("clerk", ("cases:read",), scope="hall"),
                      Rule("approver", ("cases:read",), scope="department"), Rule("admin", ("cases:read",))),
    # One route takes every step; the step's side decides which of these applies (case/steps.py).
    "case.act": (*_applicant("apply"), CLERK, APPROVER),
    "case.act.applicant": _applicant("apply"),
    "case.act.clerk": (CLERK,),
    "case.act.approver": (APPROVER,),
    "case.act.staff": (CLERK, APPROVER),
    # Documents carry more personal data than the case: its applicant side and the staff handling it.
    "case.materials.read": READERS[:4],
    "case.materials.add": _applicant("apply"),
})
