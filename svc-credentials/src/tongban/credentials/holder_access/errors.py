from tongban.shared.errors import AppError


class NotAServiceCaller(AppError):
    code, status, title = "not_a_service", 403, "Only our own services act for a holder here"
