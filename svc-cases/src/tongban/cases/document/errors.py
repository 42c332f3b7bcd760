from tongban.shared.errors import Conflict, NotFound


class CaseDocumentNotFound(NotFound):
    code, title = "case_document_not_found", "No such notice or decision on this case"


class DocumentNotDue(Conflict):
    code, title = "document_not_due", "The case has not reached the step this document records"


class DocumentNotSealed(Conflict):
    code, title = "document_not_sealed", "The document is not sealed (yet)"
