from tongban.shared.errors import AppError, Conflict


class MalformedPresentation(AppError):
    code, status, title = "malformed_presentation", 422, "This is not a Tongban presentation"

    def __init__(self, message: str) -> None:
        super().__init__(f"presentation: {message}", errors=[{"field": "presentation", "message": message}])


class NotPresentable(Conflict):
    code, title = "not_presentable", "Only a valid licence can be presented"
