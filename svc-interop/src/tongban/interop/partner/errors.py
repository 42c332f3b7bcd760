from tongban.shared.errors import AppError, Conflict, NotFound


class PartnerNotFound(NotFound):
    code, title = "partner_not_found", "No such partner city"


class PartnerExists(Conflict):
    code, title = "partner_exists", "This partner city is already registered"


class KeyExists(Conflict):
    code, title = "partner_key_exists", "This partner already has a key with this kid"


class PartnerKeyNotFound(NotFound):
    code, title = "partner_key_not_found", "No such key for this partner"


class OwnRegion(AppError):
    code, status, title = "own_region", 422, "A partner cannot be our own city"

    def __init__(self, region_code: str) -> None:
        super().__init__(f"region_code: {region_code} is our own region code",
                         errors=[{"field": "region_code", "message": "this is our own region code"}])
