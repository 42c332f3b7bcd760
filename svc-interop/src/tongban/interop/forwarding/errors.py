from tongban.shared.errors import Conflict, NotFound


class OutgoingCaseNotFound(NotFound):
    code, title = "outgoing_case_not_found", "No such forwarded case"


class IncomingCaseNotFound(NotFound):
    code, title = "incoming_case_not_found", "No such case received from a partner"


class CaseClosed(Conflict):
    code, title = "case_closed", "The case is closed: its status no longer changes"
