from tongban.shared.errors import AppError, Conflict, NotFound


class SealedDocumentNotFound(NotFound):
    code, title = "sealed_document_not_found", "No document was sealed under this id"


class DocumentAlreadySealed(Conflict):
    code, title = "document_already_sealed", "A document with this id was sealed already"


class NotAPdf(AppError):
    code, status, title = "not_a_pdf", 415, "Upload the document as application/pdf"


class DocumentTooLarge(AppError):
    code, status, title = "document_too_large", 413, "The document is larger than this endpoint takes"
