import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from tongban.catalog.bundle import repository, service
from tongban.catalog.bundle.errors import BundleCodeTaken, BundleItemRefused, BundleNotFound, StaleBundleVersion
from tongban.catalog.bundle.schemas import BundleCreate, BundleRead, BundleUpdate
from tongban.catalog.policy import ERRORS as AUTH_ERRORS
from tongban.catalog.policy import Caller, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/bundles", tags=["bundles"])
CatalogEditor = Caller("bundle.write")


@router.post("", status_code=201, response_model=BundleRead,
             responses=responses(*AUTH_ERRORS, BundleCodeTaken, BundleItemRefused, IdempotencyKeyReused))
async def publish_bundle(body: BundleCreate, session: SessionDep, actor: CatalogEditor, idem: IdempotencyDep):
    """Publish a one-thing bundle (一件事) of published items (admins)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    bundle = await service.publish_bundle(session, body, actor)
    return await idem.remember(session, 201, BundleRead.model_validate(bundle))


@router.put("/{bundle_id}", response_model=BundleRead,
            responses=responses(*AUTH_ERRORS, BundleNotFound, StaleBundleVersion, BundleItemRefused))
async def republish_bundle(bundle_id: uuid.UUID, body: BundleUpdate, session: SessionDep,
                           actor: CatalogEditor) -> BundleRead:
    """Republish a bundle as its next version (its code stays), announced again as
    `catalog.bundle.published` (admins)."""
    return BundleRead.model_validate(await service.republish_bundle(session, bundle_id, body, actor))


@router.get("", summary="“一件事”列表", response_model=Page[BundleRead], dependencies=[Public("bundle.read")])
async def list_bundles(session: SessionDep, page: PageDep,
                       city_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None) -> Page[BundleRead]:
    """Published bundles (public)."""
    return await paginate(session, repository.list_query(city_code), page, BundleRead.model_validate)


@router.get("/{bundle_id}", summary="“一件事”详情", response_model=BundleRead, responses=responses(BundleNotFound),
            dependencies=[Public("bundle.read")])
async def get_bundle(bundle_id: uuid.UUID, session: SessionDep) -> BundleRead:
    """One bundle with its merged form and materials (public)."""
    return BundleRead.model_validate(await service.get(session, bundle_id))
