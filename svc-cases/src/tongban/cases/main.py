from pathlib import Path

from fastapi import FastAPI

from tongban.cases.bundle.router import router as bundle_router
from tongban.cases.case import checker
from tongban.cases.case.router import router as case_router
from tongban.cases.catalog_copy.router import router as item_router
from tongban.cases.config import Settings
from tongban.cases.consumers.catalog import SUBSCRIPTIONS as CATALOG_SUBSCRIPTIONS
from tongban.cases.consumers.credentials import SUBSCRIPTIONS as CREDENTIALS_SUBSCRIPTIONS
from tongban.cases.db import Base, platform
from tongban.cases.item_config.router import router as item_config_router
from tongban.cases.rating.router import router as rating_router
from tongban.cases.rule.router import router as rule_router
from tongban.cases.ticket.router import router as ticket_router
from tongban.cases.workday.router import router as workday_router
from tongban.shared.periodic import PeriodicTask
from tongban.shared.service import ServiceDefinition, build_app

SERVICE = ServiceDefinition(
    name="cases", title="Tongban svc-cases", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform,
    routers=[item_router, case_router, item_config_router, rule_router, workday_router, rating_router,
             ticket_router, bundle_router],
    subscriptions=[*CATALOG_SUBSCRIPTIONS, *CREDENTIALS_SUBSCRIPTIONS],
    periodic=[PeriodicTask("deadline-checker", checker.INTERVAL, checker.run)],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_app(SERVICE, settings)
