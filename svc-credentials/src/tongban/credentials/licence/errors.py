from tongban.shared.errors import Conflict, Forbidden, NotFound


class LicenceNotFound(NotFound):
    code, title = "licence_not_found", "No such licence"


class NotIssuer(Forbidden):
    code, title = "not_issuer", "Only the issuing department may do this"


class InvalidTransition(Conflict):
    code, title = "invalid_status_transition", "The licence's status does not allow this"


class StatusListNotFound(NotFound):
    code, title = "status_list_not_found", "No such status list"


class CaseHasLicence(Conflict):
    code, title = "case_has_licence", "The case already has its licence"
