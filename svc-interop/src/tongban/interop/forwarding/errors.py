from tongban.shared.errors import Conflict, NotFound


class OutgoingCaseNotFound(NotFound):
    code, title = "outgoing_case_not_found", "No such forwarded case"


class IncomingCaseNotFound(NotFound):
    code, title = "incoming_case_not_found", "No such case received from a partner"


class PartnerCaseNumberReused(Conflict):
    code, title = "partner_case_number_reused", "This case number came before with another case reference"
