from typing import Any

from pydantic import BaseModel


class IdentityRead(BaseModel):
    """Who we are to partners: region code, name, and our public signing keys (JWK, OKP Ed25519)."""

    region_code: str
    name: str
    signing_kid: str
    keys: list[dict[str, Any]]
