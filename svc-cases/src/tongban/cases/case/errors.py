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


class ImplementationNotFound(AppError):
    """The case's department comes from the city's implementation in the catalogue, never from the client."""

    code, status, title = "implementation_not_found", 422, "No such implementation of this item in the catalogue"

    def __init__(self, why: str) -> None:
        super().__init__(why, errors=[{"field": "implementation_code", "message": why}])


class ItemNotOfferedInCity(AppError):
    code, status, title = "item_not_offered_in_city", 422, "This city does not offer this item"

    def __init__(self, basic_code: str, city: str) -> None:
        super().__init__(f"item {basic_code} has no implementation in city {city}",
                         errors=[{"field": "city_code", "message": "the item is not offered in this city"}])
