from tongban.shared.errors import Conflict, NotFound


class HallNotFound(NotFound):
    code, title = "hall_not_found", "No such hall"


class CategoryNotFound(NotFound):
    code, title = "category_not_found", "The hall has no such ticket category"


class CategoryTaken(Conflict):
    code, title = "category_taken", "The hall already has this category code"


class HallClosed(Conflict):
    code, title = "hall_closed", "The hall is not open now"
