import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tongban.shared.ids import CREDIT_ALPHABET

MAX_PDF = 4 * 1024 * 1024


class DocumentSealCreate(BaseModel):
    """A PDF for the department's seal (svc-cases: notices and decisions), base64."""

    model_config = ConfigDict(extra="forbid")

    document_id: uuid.UUID
    title: Annotated[str, Field(min_length=1, max_length=200)]
    reference: Annotated[str, Field(min_length=1, max_length=60, description="the case number")]
    department: Annotated[str, Field(pattern=rf"^[{CREDIT_ALPHABET}]{{18}}$")]
    department_name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    pdf: Annotated[str, Field(min_length=8, max_length=MAX_PDF * 4 // 3 + 4, description="the PDF, base64")]

    @field_validator("pdf")
    @classmethod
    def _base64(cls, value: str) -> str:
        import base64
        import binascii

        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not base64") from None
        if not raw.startswith(b"%PDF-"):
            raise ValueError("not a PDF")
        return value


class DocumentSealed(BaseModel):
    document_id: uuid.UUID
    seal_id: uuid.UUID
    seal_name: str
    seal_use_id: int
    sealed_at: dt.datetime
    sha256: str
    pdf: str = Field(description="the sealed PDF, base64")


class SealSummary(BaseModel):
    seal_id: uuid.UUID
    name: str
    department: str
    status: str


class DocumentSummary(BaseModel):
    document_id: uuid.UUID
    title: str
    reference: str
    sealed_at: dt.datetime
    sha256: str = Field(description="SHA-256 of the sealed PDF as issued")


class DocumentVerification(BaseModel):
    """`authentic`: signed by one of our seals; `unaltered`: not a byte changed since it was sealed."""

    result: Literal["authentic", "altered", "not_ours", "unsigned", "unreadable"]
    authentic: bool
    unaltered: bool
    reason: str
    seal: SealSummary | None = None
    document: DocumentSummary | None = None
