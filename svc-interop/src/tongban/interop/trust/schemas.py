from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class IssuerKeysRead(BaseModel):
    """`credentials.keys` answer: our licence issuers' public keys (JWK, as svc-credentials
    publishes them: `kid`, `issuer`, `status`, OKP/Ed25519 `x` or EC/SM2 `x`+`y`)."""

    region_code: str
    name: str
    keys: list[dict[str, Any]]
    status_list_url: str | None = Field(default=None, description="where our signed status lists are, `{list}` "
                                        "standing for a presentation's list id (`?purpose=` is added)")


class TrustedKey(BaseModel):
    """One key of the trust-list entry svc-credentials keeps for a partner city.
    `public_key`: base64url of the raw key (Ed25519: 32 bytes; SM2: 65 bytes, 0x04‖x‖y)."""

    kid: str
    issuer_code: str
    algorithm: Literal["Ed25519", "SM2"]
    public_key: str
    # As the partner publishes it: a retired key verifies only what it signed before retirement.
    status: Literal["active", "retired"] = "active"


class VerificationAsk(BaseModel):
    """`credentials.verify`: a partner asks us to verify a presentation of one of our licences."""

    model_config = ConfigDict(extra="forbid")

    presentation: str = Field(min_length=1, max_length=8000)


class PartnerVerificationCreate(BaseModel):
    """A clerk here asks a partner city to verify a presentation of one of its licences."""

    model_config = ConfigDict(extra="forbid")

    partner: str = Field(pattern=r"^\d{6}$")
    presentation: str = Field(min_length=1, max_length=8000)
