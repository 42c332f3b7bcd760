from tongban.shared.errors import Conflict, NotFound


class ImplementationNotFound(NotFound):
    code, title = "implementation_not_found", "No such implementation"


class ImplementationExists(Conflict):
    code, title = "implementation_exists", "This city already has an implementation of this item (or this code is taken)"


class NotComparable(NotFound):
    code, title = "not_comparable", "One of the two cities has no implementation of this item"


class StaleImplementationVersion(Conflict):
    code, title = "stale_version", "The implementation was changed meanwhile; read it again"
