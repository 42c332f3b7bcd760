from tongban.shared.errors import AppError, Conflict, NotFound


class BundleNotFound(NotFound):
    code, title = "bundle_not_found", "No such bundle"


class BundleCodeTaken(Conflict):
    code, title = "bundle_code_taken", "A bundle with this code already exists"


class StaleBundleVersion(Conflict):
    code, title = "stale_version", "The bundle was changed meanwhile; read it again"


class BundleItemRefused(AppError):
    """An item named by a bundle is unknown, not published, or clashes with another item's form."""

    code, status, title = "bundle_item_refused", 422, "A bundle names an item it cannot hold"

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems), errors=problems)
