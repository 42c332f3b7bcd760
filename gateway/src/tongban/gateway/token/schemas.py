from typing import Any, Literal

from pydantic import BaseModel, Field


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds")
    scope: str = Field(description="space-separated scopes granted")


class Jwks(BaseModel):
    keys: list[dict[str, Any]]


class PasswordGrant(BaseModel):
    """The form fields of `grant_type=password` (RFC 6749 §4.3)."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)
    scope: str | None = Field(default=None, max_length=1000)
