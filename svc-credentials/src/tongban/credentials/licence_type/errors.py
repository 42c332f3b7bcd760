from tongban.shared.errors import Conflict, NotFound


class LicenceTypeNotFound(NotFound):
    code, title = "licence_type_not_found", "No such licence type"


class LicenceTypeTaken(Conflict):
    code, title = "licence_type_taken", "A licence type with this code already exists"
