from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from tongban.cases import calendar_flow, checker
from tongban.cases.benefit.router import router as benefit_router
from tongban.cases.benefit.service import PolicyCache
from tongban.cases.bundle.router import router as bundle_router
from tongban.cases.case.router import router as case_router
from tongban.cases.case_material_router import router as case_material_router
from tongban.cases.catalog_copy.router import router as item_router
from tongban.cases.config import Settings
from tongban.cases.credit import service as credit
from tongban.cases.credit.platform import LocalCreditPlatform
from tongban.cases.credit.router import router as credit_router
from tongban.cases.consumers.catalog import SUBSCRIPTIONS as CATALOG_SUBSCRIPTIONS
from tongban.cases.consumers.credentials import SUBSCRIPTIONS as CREDENTIALS_SUBSCRIPTIONS
from tongban.cases.consumers.interop import SUBSCRIPTIONS as INTEROP_SUBSCRIPTIONS
from tongban.cases.db import Base, audit, platform
from tongban.cases.document.router import router as document_router
from tongban.cases.forwarding.router import router as forwarding_router
from tongban.cases.item_config.router import router as item_config_router
from tongban.cases.material.router import router as material_router
from tongban.cases.consumers.payment import SUBSCRIPTIONS as PAYMENT_SUBSCRIPTIONS
from tongban.cases.payment import config as payment_config
from tongban.cases.payment import follower as payment_follower
from tongban.cases.payment.router import router as payment_router
from tongban.cases.rating.router import router as rating_router
from tongban.cases.rule.router import router as rule_router
from tongban.cases.statistics.router import router as statistics_router
from tongban.cases.ticket.router import router as ticket_router
from tongban.cases.workday.router import calendar_router
from tongban.cases.workday.router import router as workday_router
from tongban.shared.periodic import PeriodicTask
from tongban.shared.policy import audit_refusals
from tongban.shared.service import Runtime, ServiceDefinition, build_app
from tongban.shared.service_auth import service_client, token_source


@asynccontextmanager
async def lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    """svc-credentials' client (CASES_CREDENTIALS_URL), authenticated as svc-cases; None when unset."""
    settings: Settings = app.state.settings
    payment_config.load()   # a bad payment provider configuration (CASES_PAYMENT_CONFIG) fails here, not at a payment
    client = (service_client(settings.credentials_url, token_source(settings), settings.credentials_timeout_seconds)
              if settings.credentials_url else None)
    app.state.credentials = client
    app.state.credit_platform = LocalCreditPlatform()  # the city's credit platform: its local source
    app.state.benefit_policies = PolicyCache()         # published benefit policies, compiled once
    try:
        yield
    finally:
        if client is not None:
            await client.aclose()


SERVICE = ServiceDefinition(
    name="cases", title="Tongban svc-cases", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform,
    # case_material_router before case_router: `POST /cases/{id}/materials` must not be taken for an action.
    # document_router too: `POST /cases/{id}/documents` is not an action either.
    routers=[item_router, material_router, case_material_router, document_router, payment_router, statistics_router,
             case_router, item_config_router, rule_router, workday_router, calendar_router, rating_router,
             ticket_router, bundle_router, forwarding_router, benefit_router, credit_router],
    subscriptions=[*CATALOG_SUBSCRIPTIONS, *CREDENTIALS_SUBSCRIPTIONS, *INTEROP_SUBSCRIPTIONS,
                   *PAYMENT_SUBSCRIPTIONS],
    periodic=[PeriodicTask("deadline-checker", checker.INTERVAL, checker.run),
              PeriodicTask("calendar", calendar_flow.INTERVAL, calendar_flow.run),
              PeriodicTask("commitment-checks", credit.INTERVAL, credit.run),
              PeriodicTask("payment-follower", payment_follower.INTERVAL, payment_follower.run)],
    probes=[calendar_flow.PROBE],
    lifespan=lifespan,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    app = build_app(SERVICE, settings)
    audit_refusals(app, audit)  # every refusal of staff and agents is in the audit trail
    return app
