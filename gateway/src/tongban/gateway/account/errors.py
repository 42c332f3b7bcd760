from tongban.shared.errors import Conflict, NotFound


class UsernameTaken(Conflict):
    code, title = "username_taken", "An account with this username already exists"


class PersonHasAccount(Conflict):
    code, title = "person_has_account", "This resident ID number already has a citizen account"


class AccountNotFound(NotFound):
    code, title = "account_not_found", "No such account"


class NotACitizen(Conflict):
    code, title = "not_a_citizen", "Only citizen accounts have a real-name level"


class CannotDeactivateSelf(Conflict):
    code, title = "cannot_deactivate_self", "An admin cannot switch off their own account"


class NotStaff(Conflict):
    code, title = "not_staff", "Only clerks (halls and departments) and approvers (departments) have a scope"
