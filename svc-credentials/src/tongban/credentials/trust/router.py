import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from tongban.credentials.policy import ERRORS as AUTH_ERRORS
from tongban.credentials.policy import Caller, Public
from tongban.credentials.trust import repository, service
from tongban.credentials.trust.errors import MappingExists, MappingNotFound
from tongban.credentials.trust.schemas import (
    MappingCreate,
    MappingRead,
    RegionCode,
    Satisfaction,
    TrustedIssuersPut,
    TrustedRegionRead,
    TypeCode,
)
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, page_of, paginate

router = APIRouter(tags=["mutual recognition"])
TrustWriter = Caller("trust.write")
TrustReader = Caller("trust.read")
Admin = Caller("mapping.write")
Public = [Public("mapping.read")]
RegionPath = Annotated[str, Path(pattern=r"^\d{6}$", description="GB/T 2260 region code, e.g. 440300")]


@router.put("/trusted-issuers/{region_code}", response_model=TrustedRegionRead,
            responses=responses(*AUTH_ERRORS, InvalidField))
async def put_trusted_issuers(region_code: RegionPath, body: TrustedIssuersPut, session: SessionDep,
                              actor: TrustWriter) -> TrustedRegionRead:
    """Replace a partner region's trusted issuer keys (idempotent). Keys left out are retired, not
    deleted: they still verify what they signed before."""
    return await service.put_region(session, region_code, body, actor)


@router.get("/trusted-issuers", response_model=Page[TrustedRegionRead], responses=responses(*AUTH_ERRORS))
async def list_trusted_issuers(session: SessionDep, page: PageDep, viewer: TrustReader) -> Page[TrustedRegionRead]:
    """The trust list: each partner region with its keys, active and retired."""
    service.ensure_trust_manager(viewer)
    regions = await paginate(session, repository.regions_query(), page)
    return page_of(await service.regions_page(session, regions.items), regions.total, page)


@router.post("/licence-type-mappings", status_code=201, response_model=MappingRead,
             responses=responses(*AUTH_ERRORS, MappingExists, IdempotencyKeyReused))
async def add_mapping(body: MappingCreate, session: SessionDep, admin: Admin, idem: IdempotencyDep):
    """Say that a partner city's licence type stands for one of ours (admins)."""
    if (replay := await idem.claim(session, admin.sub)) is not None:
        return replay
    mapping = await service.add_mapping(session, body, admin)
    return await idem.remember(session, 201, MappingRead.model_validate(mapping))


@router.get("/licence-type-mappings", response_model=Page[MappingRead], dependencies=Public)
async def list_mappings(session: SessionDep, page: PageDep, region_code: RegionCode | None = None,
                        our_type_code: TypeCode | None = None,
                        partner_type_code: TypeCode | None = None) -> Page[MappingRead]:
    """The licence-type mapping table between the cities (public)."""
    return await paginate(session, repository.mappings_query(region_code, our_type_code, partner_type_code), page,
                          MappingRead.model_validate)


@router.delete("/licence-type-mappings/{mapping_id}", status_code=204,
               responses=responses(*AUTH_ERRORS, MappingNotFound))
async def delete_mapping(mapping_id: uuid.UUID, session: SessionDep, admin: Admin) -> Response:
    """Remove a mapping (admins)."""
    await service.delete_mapping(session, mapping_id, admin)
    return Response(status_code=204)


@router.get("/licence-type-mappings/satisfies", response_model=Satisfaction, dependencies=Public)
async def satisfies(session: SessionDep, type_code: Annotated[TypeCode, Query()],
                    required_type_code: Annotated[TypeCode, Query()],
                    region_code: Annotated[RegionCode | None, Query()] = None) -> Satisfaction:
    """Does a licence of `type_code` satisfy a material asking for our `required_type_code` (public)?"""
    return await service.satisfies(session, type_code, required_type_code, region_code)
