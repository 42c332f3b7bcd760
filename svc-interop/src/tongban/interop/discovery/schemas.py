import uuid

from pydantic import BaseModel, ConfigDict


class ServiceEndpoint(BaseModel):
    name: str
    method: str
    path: str
    description: str


class DiscoveryRead(BaseModel):
    """What the calling partner may do here, and where the contract is described."""

    region_code: str
    name: str
    partner: str
    services: list[ServiceEndpoint]
    openapi_url: str
    identity_url: str
    signature_profile: str


class CrossCityItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: uuid.UUID
    basic_code: str
    name: str
    case_type: str | None
    version: int
