from tongban.shared.errors import AppError, Conflict, Forbidden, NotFound


class SealNotFound(NotFound):
    code, title = "seal_not_found", "No such seal"


class DelegationNotFound(NotFound):
    code, title = "seal_delegation_not_found", "No such seal delegation"


class NotLegalRepresentative(Forbidden):
    code, title = "not_legal_representative", "Only the company's legal representative may do this"


class SealExists(Conflict):
    code, title = "seal_exists", "The company already has an active seal of this kind"


class SealRevoked(Conflict):
    code, title = "seal_revoked", "The seal is revoked"


class DelegationRevoked(Conflict):
    code, title = "seal_delegation_revoked", "The delegation was already revoked"


class SealUseRefused(Forbidden):
    code, title = "seal_use_refused", "You may not apply this seal"


class MalformedStamp(AppError):
    code, status, title = "malformed_stamp", 422, "This is not a Tongban seal stamp"

    def __init__(self, message: str) -> None:
        super().__init__(f"stamp: {message}", errors=[{"field": "stamp", "message": message}])
