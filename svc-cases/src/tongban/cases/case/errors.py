from tongban.shared.errors import AppError, Conflict, NotFound


class CaseNotFound(NotFound):
    code, title = "case_not_found", "No such case"


class WrongCaseState(Conflict):
    """A transition from a state that does not allow it; the problem names the current state."""

    code, title = "wrong_case_state", "The case is not in a state that allows this"

    def __init__(self, action: str, state: str, allowed: frozenset[str]) -> None:
        super().__init__(f"cannot {action} a case that is {state} (allowed from: {', '.join(sorted(allowed))})",
                         state=state, action=action)


class ItemNotAvailable(AppError):
    code, status, title = "item_not_available", 422, "This item does not take applications"

    def __init__(self, basic_code: str, why: str) -> None:
        super().__init__(f"item {basic_code}: {why}", errors=[{"field": "basic_code", "message": why}])


class NotAllowedForRole(AppError):
    code, status, title = "not_allowed_for_role", 403, "Your role cannot do this to a case"
