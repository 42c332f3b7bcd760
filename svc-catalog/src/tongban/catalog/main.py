from pathlib import Path

from fastapi import FastAPI

from tongban.catalog.config import Settings
from tongban.catalog.db import Base, platform
from tongban.catalog.bundle.router import router as bundle_router
from tongban.catalog.implementation.router import router as implementation_router
from tongban.catalog.item.router import router as item_router
from tongban.catalog.search.router import router as search_router
from tongban.shared.service import ServiceDefinition, build_app

SERVICE = ServiceDefinition(
    name="catalog", title="Tongban svc-catalog", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform, routers=[item_router, implementation_router, bundle_router, search_router],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
