from tongban.shared.errors import Conflict


class UsernameTaken(Conflict):
    code, title = "username_taken", "An account with this username already exists"


class PersonHasAccount(Conflict):
    code, title = "person_has_account", "This resident ID number already has a citizen account"
