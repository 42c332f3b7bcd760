from tongban.shared.errors import AppError, NotFound, PayloadTooLarge


class DocumentNotFound(NotFound):
    code, title = "document_not_found", "No such document"


class DocumentTooLarge(PayloadTooLarge):
    code, title = "document_too_large", "The document is larger than the store accepts"


class UnsupportedDocumentType(AppError):
    code, status, title = "unsupported_document_type", 415, "The store does not accept this type of file"


class DocumentUnusable(AppError):
    """Empty, not what its type says, or not the caller's to attach: 422 naming the field."""

    code, status, title = "document_unusable", 422, "The document cannot be used"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}])


class LicenceNotUsable(AppError):
    """svc-credentials did not confirm a valid licence of this type for the applicant (or refused the use)."""

    code, status, title = "licence_not_usable", 422, "The licence cannot be used for this case"

    def __init__(self, field: str, message: str, **extra: object) -> None:
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}], **extra)


class CredentialsNotConfigured(AppError):
    code, status, title = "credentials_unavailable", 503, "Licence checks are not available"


class MaterialsMissing(AppError):
    """A submission without a material the item marks required (and not 容缺): 422 naming each one."""

    code, status, title = "materials_missing", 422, "Required materials are missing"

    def __init__(self, names: list[str]) -> None:
        super().__init__("missing required materials: " + ", ".join(names),
                         errors=[{"field": "materials", "material": n, "message": f"required material missing: {n}"}
                                 for n in names])
