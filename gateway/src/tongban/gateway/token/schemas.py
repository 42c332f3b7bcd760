import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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


class OAuthClientCreate(BaseModel):
    """A partner system (`kind` partner: `client_id`, `partner` region code, interop `scopes`) or one
    of our services (`kind` service: `service` name; its scopes come from SERVICE_SCOPES). Without a
    `secret`, one is generated and shown once in the answer."""

    kind: Literal["partner", "service"]
    client_id: str | None = Field(default=None, min_length=3, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]+$")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    partner: str | None = Field(default=None, pattern=r"^[1-9][0-9]{5}$", description="GB/T 2260 region code")
    service: str | None = Field(default=None, max_length=30)
    scopes: list[str] = Field(default_factory=list, max_length=20)
    secret: str | None = Field(default=None, min_length=16, max_length=200)


class OAuthClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    client_id: str
    kind: str
    name: str
    partner: str | None
    service: str | None
    scope: str
    active: bool
    created_at: dt.datetime


class OAuthClientCreated(OAuthClientRead):
    client_secret: str | None = Field(default=None, description="only when generated; shown once")


class OAuthClientStatus(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
