from tongban.shared.errors import AppError, Conflict, Forbidden, NotFound


class LicenceNotFound(NotFound):
    """No such licence of this holder (someone else's licence answers the same)."""

    code, title = "licence_not_found", "No such licence of this holder"


class NotPresentable(Conflict):
    code, title = "not_presentable", "Only a valid licence can be presented"


class NotAHolder(Forbidden):
    code, title = "not_a_holder", "Only citizens and company users hold licences"


class OnBehalfOfMismatch(AppError):
    code, status, title = "on_behalf_of_mismatch", 422, "X-Interop-On-Behalf-Of is not the holder in the body"
