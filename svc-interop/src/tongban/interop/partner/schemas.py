import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tongban.interop.identity.service import public_from_b64url

# The message types a partner may be granted (each is one inbound endpoint under /exchange).
Service = Literal["discovery", "case.forward", "case.status", "credentials.keys", "credentials.verify", "hotline.refer",
                  "hotline.status", "company.migrate", "credentials.present"]
REGION = r"^\d{6}$"
URL = r"^https?://[^\s/$.?#][^\s]*$"
ITEM_CODE = r"^(\*|[0-9A-Z]{8,20})$"
ItemCode = Annotated[str, Field(pattern=ITEM_CODE)]


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=200)


class PartnerKeyCreate(BaseModel):
    """A partner's public key as a JWK (OKP, Ed25519), e.g. from its `GET /api/v1/interop/identity`."""

    model_config = ConfigDict(extra="ignore")

    kid: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$")
    kty: Literal["OKP"] = "OKP"
    crv: Literal["Ed25519"] = "Ed25519"
    x: str = Field(min_length=43, max_length=44, pattern=r"^[A-Za-z0-9_\-]+$")
    note: str | None = Field(default=None, max_length=500)

    def public_key(self):  # noqa: ANN201 - Ed25519PublicKey
        return public_from_b64url(self.x)


class PartnerKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kid: str
    x: str = Field(validation_alias="public_key")
    note: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class PartnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region_code: str = Field(pattern=REGION, description="GB/T 2260, e.g. 440300 Shenzhen")
    name: str = Field(min_length=1, max_length=100)
    base_url: str = Field(max_length=500, pattern=URL, description="where the partner serves /api/v1/interop")
    token_url: str | None = Field(default=None, max_length=500, pattern=URL,
                                  description="the partner gateway's token endpoint (client credentials)")
    client_id: str | None = Field(default=None, max_length=100, description="our client id at that gateway")
    services: list[Service] = Field(default_factory=list, max_length=20)
    items: list[ItemCode] = Field(default_factory=list, max_length=5000, description='basic codes, or "*"')
    contacts: list[Contact] = Field(default_factory=list, max_length=20)
    keys: list[PartnerKeyCreate] = Field(default_factory=list, max_length=10)


class PartnerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    base_url: str | None = Field(default=None, max_length=500, pattern=URL)
    token_url: str | None = Field(default=None, max_length=500, pattern=URL)
    client_id: str | None = Field(default=None, max_length=100)
    services: list[Service] | None = Field(default=None, max_length=20)
    items: list[ItemCode] | None = Field(default=None, max_length=5000)
    contacts: list[Contact] | None = Field(default=None, max_length=20)
    status: Literal["active", "suspended"] | None = None
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _no_null_for_what_a_partner_always_has(self) -> "PartnerUpdate":
        # Left out means unchanged; null would clear what every partner must have (token_url and
        # client_id may be cleared).
        nulled = [f for f in ("name", "base_url", "services", "items", "contacts", "status")
                  if f in self.model_fields_set and getattr(self, f) is None]
        if nulled:
            raise ValueError(f"{', '.join(nulled)} cannot be null: leave a field out to keep it")
        return self


class PartnerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    region_code: str
    name: str
    base_url: str
    token_url: str | None
    client_id: str | None
    services: list[str]
    items: list[str]
    contacts: list[Contact]
    status: str
    keys: list[PartnerKeyRead] = []
    created_at: dt.datetime
    updated_at: dt.datetime
