from tongban.shared.errors import NotFound


class IssuerNotFound(NotFound):
    code, title = "issuer_not_found", "No such issuer"
