from tongban.shared.errors import AppError, Conflict, NotFound


class ItemNotFound(NotFound):
    code, title = "item_not_found", "No such item"


class BasicCodeTaken(Conflict):
    code, title = "basic_code_taken", "An item with this basic code already exists"


class WrongItemStatus(Conflict):
    code, title = "wrong_item_status", "The item is not in a state that allows this"


class UnknownCity(AppError):
    code, status, title = "unknown_city", 422, "Unknown city region code"

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"{field}: {value} is not a city of the platform",
                         errors=[{"field": field, "message": f"{value} is not a city of the platform"}])
