import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from tongban.catalog.implementation import guide, repository, service
from tongban.catalog.implementation.errors import (
    ImplementationExists, ImplementationNotFound, NotComparable, StaleImplementationVersion,
)
from tongban.catalog.implementation.schemas import (
    BenchmarkReport, Comparison, ImplementationCreate, ImplementationRead, ImplementationUpdate,
)
from tongban.catalog.item import repository as item_repository
from tongban.catalog.item.errors import ItemNotFound, WrongItemStatus
from tongban.catalog.policy import ERRORS as AUTH_ERRORS
from tongban.catalog.policy import Caller, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(tags=["implementations"])
CatalogEditor = Caller("implementation.write")
City = Annotated[str, Query(pattern=r"^\d{6}$", description="GB/T 2260 region code")]


@router.post("/items/{item_id}/implementations", status_code=201, response_model=ImplementationRead,
             responses=responses(*AUTH_ERRORS, ItemNotFound, WrongItemStatus, ImplementationExists, InvalidField,
                                 IdempotencyKeyReused))
async def publish_implementation(item_id: uuid.UUID, body: ImplementationCreate, session: SessionDep,
                                 actor: CatalogEditor, idem: IdempotencyDep):
    """Publish a city's implementation (实施清单) of a published item (admins)."""
    if (replay := await idem.claim(session, actor.sub)) is not None:
        return replay
    impl = await service.publish_implementation(session, item_id, body, actor)
    return await idem.remember(session, 201, ImplementationRead.model_validate(impl))


@router.put("/implementations/{implementation_id}", response_model=ImplementationRead,
            responses=responses(*AUTH_ERRORS, ImplementationNotFound, StaleImplementationVersion, ItemNotFound,
                                WrongItemStatus, InvalidField))
async def update_implementation(implementation_id: uuid.UUID, body: ImplementationUpdate, session: SessionDep,
                                actor: CatalogEditor) -> ImplementationRead:
    """Replace a city's implementation (its code and city stay): the next version, announced
    again as `catalog.implementation.published` (admins)."""
    return ImplementationRead.model_validate(
        await service.update_implementation(session, implementation_id, body, actor))


@router.get("/implementations", summary="实施清单列表",
            response_model=Page[ImplementationRead], dependencies=[Public("implementation.read")])
async def list_implementations(session: SessionDep, page: PageDep, city_code: City | None = None,
                               basic_code: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None):
    """Implementations, by basic code then city (public)."""
    return await paginate(session, repository.list_query(city_code, basic_code), page,
                          ImplementationRead.model_validate)


@router.get("/implementations/{implementation_id}", summary="实施清单详情", response_model=ImplementationRead,
            responses=responses(ImplementationNotFound), dependencies=[Public("implementation.read")])
async def get_implementation(implementation_id: uuid.UUID, session: SessionDep):
    """One implementation (public)."""
    return ImplementationRead.model_validate(await service.get(session, implementation_id))


async def _guide(session: SessionDep, implementation_id: uuid.UUID) -> dict:
    impl = await service.get(session, implementation_id)
    item = await item_repository.get(session, impl.item_id)
    if item is None:
        raise ItemNotFound()
    return guide.build(item, impl)


@router.get("/implementations/{implementation_id}/guide", summary="办事指南", responses=responses(ImplementationNotFound),
            dependencies=[Public("implementation.read")])
async def get_guide(implementation_id: uuid.UUID, session: SessionDep) -> dict:
    """The service guide (办事指南) as JSON (public)."""
    return await _guide(session, implementation_id)


@router.get("/implementations/{implementation_id}/guide.html", summary="办事指南（网页）", response_class=HTMLResponse,
            responses=responses(ImplementationNotFound), dependencies=[Public("implementation.read")])
async def get_guide_html(implementation_id: uuid.UUID, session: SessionDep) -> HTMLResponse:
    """The service guide as a printable HTML page (public)."""
    return HTMLResponse(guide.render_html(await _guide(session, implementation_id)))


@router.get("/benchmark/items/{basic_code}", response_model=Comparison, responses=responses(NotComparable),
            dependencies=[Public("benchmark.read")])
async def compare(basic_code: Annotated[str, Path(pattern=r"^\d{12}$")], session: SessionDep,
                  city_a: City = "442000", city_b: City = "440300"):
    """Compare two cities' implementations of one item on the ten benchmark elements (public)."""
    return await service.compare(session, basic_code, city_a, city_b)


@router.get("/benchmark/report", response_model=BenchmarkReport, dependencies=[Public("benchmark.read")])
async def report(session: SessionDep, page: PageDep, city_a: City = "442000", city_b: City = "440300",
                 lagging_only: bool = True):
    """Catalogue-wide benchmark between two cities: where each lags (public, paginated)."""
    return await service.report(session, city_a, city_b, page, lagging_only)
