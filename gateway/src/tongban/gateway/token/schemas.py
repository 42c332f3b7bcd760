from typing import Any, Literal

from pydantic import BaseModel, Field


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds")
    scope: str = Field(description="space-separated scopes granted")
    refresh_token: str | None = Field(default=None, description="single use: each refresh returns a new one")


class Jwks(BaseModel):
    keys: list[dict[str, Any]]


class PasswordGrant(BaseModel):
    """The form fields of `grant_type=password` (RFC 6749 §4.3)."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)
    scope: str | None = Field(default=None, max_length=1000)


class RefreshGrant(BaseModel):
    """The form fields of `grant_type=refresh_token` (RFC 6749 §6)."""

    refresh_token: str = Field(min_length=1, max_length=200)
    scope: str | None = Field(default=None, max_length=1000)


class ClientCredentialsGrant(BaseModel):
    """`grant_type=client_credentials` (RFC 6749 §4.4); the client authenticates with HTTP Basic
    or with `client_id` and `client_secret` in the form (§2.3.1)."""

    client_id: str = Field(min_length=1, max_length=100)
    client_secret: str = Field(min_length=1, max_length=200)
    scope: str | None = Field(default=None, max_length=1000)


class Revocation(BaseModel):
    """RFC 7009 §2.1: the token to revoke and an optional hint of its type."""

    token: str = Field(min_length=1, max_length=4000)
    token_type_hint: str | None = Field(default=None, max_length=50)


class SigningKeyCreate(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class SigningKeyRead(BaseModel):
    kid: str
    signing: bool
