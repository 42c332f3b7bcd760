from pathlib import Path

from fastapi import FastAPI

from tongban.cases.catalog_copy.router import router as item_router
from tongban.cases.config import Settings
from tongban.cases.consumers.catalog import SUBSCRIPTIONS as CATALOG_SUBSCRIPTIONS
from tongban.cases.db import Base, platform
from tongban.shared.service import ServiceDefinition, build_app

SERVICE = ServiceDefinition(
    name="cases", title="Tongban svc-cases", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform, routers=[item_router], subscriptions=[*CATALOG_SUBSCRIPTIONS],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
