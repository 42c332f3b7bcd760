import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    filename: str
    mime_type: str
    size: int
    sha256: str
    case_id: uuid.UUID | None
    created_at: dt.datetime


class MaterialIn(BaseModel):
    """One material: an uploaded document (`document_id`, uploaded by the same caller and not yet
    attached), a licence of the applicant (免证办: `licence_type_code`, with `consent` true: the
    applicant lets the handling department use that licence for this case), or a presentation
    (亮证, `presentation` with the `licence_type_code` it stands for) of a licence the applicant
    holds in a partner city, such as its credit report (信用报告) for a 无违法违规证明: verified by
    our svc-credentials against the partner's keys on the trust list (深中互认)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["身份证"])
    document_id: uuid.UUID | None = None
    licence_type_code: str | None = Field(default=None, pattern=r"^[0-9A-Z]{4,40}$")
    consent: bool = False
    presentation: str | None = Field(default=None, min_length=1, max_length=8000, pattern=r"^TBP1\.[A-Za-z0-9_\-.]+$",
                                     description="a presentation's QR payload (TBP1...), with the licence_type_code "
                                                 "of ours it stands for")

    @model_validator(mode="after")
    def _one_source(self) -> "MaterialIn":
        if (self.document_id is None) == (self.licence_type_code is None):
            raise ValueError("give either document_id or licence_type_code")
        if self.presentation is not None:
            if self.licence_type_code is None:
                raise ValueError("a presentation needs the licence_type_code it stands for")
            return self  # the holder made the presentation and handed it over: that is her consent
        if self.licence_type_code is not None and not self.consent:
            raise ValueError("a licence-backed material needs consent: true")
        return self


class MaterialRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    document_id: uuid.UUID | None
    licence_type_code: str | None
    licence_identifier: str | None
    consent_id: uuid.UUID | None
    use_id: int | None
    verification: str | None
    added_by: str
    created_at: dt.datetime
