import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from tongban.catalog.config import Settings
from tongban.catalog.db import Base, platform
from tongban.catalog.bundle.router import router as bundle_router
from tongban.catalog.implementation.router import router as implementation_router
from tongban.catalog.item.router import router as item_router
from tongban.catalog.search import index
from tongban.catalog.search.router import router as search_router
from tongban.shared.service import Runtime, ServiceDefinition, build_app


@asynccontextmanager
async def lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    """The search index is built before the replica says it is ready (a few seconds for 100,000
    items); searches then keep it current themselves."""
    settings = app.state.settings
    if settings.search_index:
        await index.of(app).build(index.dsn(settings.database_url))
        # What the replica holds from now on (the index, the app) out of the collector's sight: a
        # full collection otherwise walks it all, a stall of tens of ms in the middle of searches.
        gc.collect()
        gc.freeze()
    yield


SERVICE = ServiceDefinition(
    name="catalog", title="Tongban svc-catalog", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform, routers=[item_router, implementation_router, bundle_router, search_router],
    lifespan=lifespan,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
