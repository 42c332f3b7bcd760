from tongban.shared.errors import Conflict, Forbidden, NotFound


class DelegationNotFound(NotFound):
    code, title = "delegation_not_found", "No such delegation"


class NotLegalRepresentative(Forbidden):
    code, title = "not_legal_representative", \
        "Only the principal may delegate: a company's legal representative or administrator, a verified citizen"


class NotAnAgentOfTheCompany(Conflict):
    code, title = "not_an_agent_of_the_company", "The agent account is not an agent of this company"


class DelegationRevoked(Conflict):
    code, title = "delegation_revoked", "This delegation is already revoked"


class NotAnAgentAccount(Conflict):
    code, title = "not_an_agent_account", "The agent must be another active citizen account"
