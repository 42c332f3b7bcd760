from pydantic import BaseModel, ConfigDict, Field, field_validator

from tongban.shared.ids import normalize_resident_id


class RealNameSubmission(BaseModel):
    """The provider's signed answer, as the app received it after the face check."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_-]+$")
    answer: str = Field(min_length=10, max_length=8000)


class LocalCheck(BaseModel):
    """What the local provider is shown: a face (any bytes, base64) and the person's ID number and name."""

    model_config = ConfigDict(extra="forbid")

    id_number: str
    name: str = Field(min_length=1, max_length=200)
    face_image: str = Field(min_length=1, max_length=200_000)

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        return normalize_resident_id(value)


class LocalAnswer(BaseModel):
    provider: str = "local"
    answer: str
