from typing import Any

from tongban.shared.errors import AppError, Conflict, NotFound


class PolicyNotFound(NotFound):
    code, title = "benefit_policy_not_found", "No such benefit policy"


class PolicyNotOpen(Conflict):
    code, title = "benefit_policy_not_open", "The policy does not take this now"


class NotEligible(AppError):
    code, status, title = "not_eligible", 422, "The rules of this policy do not match"

    def __init__(self, missing: list[str], **extra: Any) -> None:
        super().__init__("missing: " + "; ".join(missing), missing=missing, **extra)


class AlreadyGranted(Conflict):
    code, title = "already_granted", "This policy was already granted to this subject"


class BudgetExhausted(Conflict):
    code, title = "budget_exhausted", "The policy's budget cannot cover this grant"


class GrantNotFound(NotFound):
    code, title = "benefit_grant_not_found", "No such grant"
