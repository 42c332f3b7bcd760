from tongban.shared.errors import AppError, Conflict, Forbidden, NotFound


class ConsentNotFound(NotFound):
    code, title = "consent_not_found", "No such consent"


class ConsentRevoked(Conflict):
    code, title = "consent_already_revoked", "This consent was already withdrawn"


class UseRefused(Forbidden):
    code, title = "licence_use_refused", "No consent covers this use of the licence"


class NoDepartment(AppError):
    code, status, title = "no_department", 403, "Only a department's staff may use licences"


class UnknownCase(AppError):
    code, status, title = "unknown_case", 422, "No such case for this consent"


class NotAtCounter(Forbidden):
    code, title = "not_at_counter", "Only a clerk at a hall's counter may take an applicant's consent"
