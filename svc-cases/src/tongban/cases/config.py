from typing import Literal

from tongban.shared.config import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("CASES_")

    default_city_code: Literal["442000", "440300"] = "442000"   # the city of cases that do not name one
    # svc-credentials' base URL (CASES_CREDENTIALS_URL), for licence-backed materials (免证办) and
    # rules on the applicant's licences. Unset: both are refused with 503, the rest works.
    credentials_url: str | None = None
    credentials_timeout_seconds: float = 5.0
    # What the QR code on a sealed notice points to (svc-credentials' public document check, through
    # the gateway): CASES_DOCUMENT_VERIFY_URL, the document id appended.
    document_verify_url: str = "http://127.0.0.1:8000/api/v1/credentials/document-verifications"
    # The document store: uploaded materials (CASES_DOCUMENT_MAX_BYTES, CASES_DOCUMENT_MIME_TYPES).
    document_max_bytes: int = 5 * 1024 * 1024
    document_mime_types: list[str] = ["application/pdf", "image/jpeg", "image/png", "application/ofd"]
