from tongban.shared.errors import Conflict, NotFound


class MappingNotFound(NotFound):
    code, title = "licence_type_mapping_not_found", "No such licence-type mapping"


class MappingExists(Conflict):
    code, title = "licence_type_mapping_exists", "This mapping exists already"
