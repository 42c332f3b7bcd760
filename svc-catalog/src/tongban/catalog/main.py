from pathlib import Path

from fastapi import FastAPI

from tongban.catalog.config import Settings
from tongban.catalog.db import Base, platform
from tongban.catalog.item.router import router as item_router
from tongban.shared.service import ServiceDefinition, build_app

SERVICE = ServiceDefinition(
    name="catalog", title="Tongban svc-catalog", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform, routers=[item_router],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
