from tongban.shared.errors import Conflict, NotFound


class ItemNotFound(NotFound):
    code, title = "item_not_found", "No such item"


class BasicCodeTaken(Conflict):
    code, title = "basic_code_taken", "An item with this basic code already exists"
