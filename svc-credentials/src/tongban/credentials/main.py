from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from tongban.credentials.config import Settings
from tongban.credentials.consent.errors import NotAtCounter
from tongban.credentials.consent.router import router as consent_router
from tongban.credentials.consumers.cases import SUBSCRIPTIONS as CASES_SUBSCRIPTIONS
from tongban.credentials.db import Base, audit, platform
from tongban.credentials.document.router import router as document_router
from tongban.credentials.holder_access.consent import CONSENT_ACTOR
from tongban.credentials.holder_access.errors import NotAServiceCaller
from tongban.credentials.holder_access.router import router as holder_access_router
from tongban.credentials.licence.errors import NotIssuer
from tongban.credentials.licence.router import router as licence_router
from tongban.credentials.licence.service import STATUS_LIST_SIGNER
from tongban.credentials.licence_type.router import router as licence_type_router
from tongban.credentials.picture.router import router as picture_router
from tongban.credentials.presentation import service as presentations
from tongban.credentials.presentation.router import router as presentation_router
from tongban.credentials.seal.errors import NotLegalRepresentative
from tongban.credentials.seal.router import router as seal_router
from tongban.credentials.seal.timestamp import TSA_ACTOR
from tongban.credentials.signing import keystore
from tongban.credentials.signing import service as signing
from tongban.credentials.signing.router import router as signing_router
from tongban.credentials.trust.router import router as trust_router
from tongban.credentials.trust.status_lists import PartnerStatusLists
from tongban.shared.auth import InsufficientScope, OutsideScope
from tongban.shared.periodic import PeriodicTask
from tongban.shared.policy import NotPermitted, audit_refusals
from tongban.shared.service import Runtime, ServiceDefinition, build_app
from tongban.shared.service_auth import service_client, token_source


@asynccontextmanager
async def lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    # The consumers run in this process too (RUN_WORKER), so the store is installed module-wide.
    settings = runtime.settings
    keystore.install(keystore.open_store(settings))
    # The platform's own signers (status lists, time-stamps) get their keys now, not at first use,
    # so the keys partners pull include them from the start.
    async with runtime.sessionmaker() as session, session.begin():
        await signing.platform_key(session, settings.status_list_signer_code,  # type: ignore[attr-defined]
                                   settings.status_list_signer_name, STATUS_LIST_SIGNER)  # type: ignore[attr-defined]
        await signing.platform_key(session, settings.tsa_code, settings.tsa_name, TSA_ACTOR)  # type: ignore[attr-defined]
        await signing.platform_key(session, settings.consent_signer_code,  # type: ignore[attr-defined]
                                   settings.consent_signer_name, CONSENT_ACTOR)  # type: ignore[attr-defined]
    # svc-cases, asked as this service whether a case exists (counter consents); None when unset.
    cases_url = settings.cases_url  # type: ignore[attr-defined]
    cases = (service_client(cases_url, token_source(settings), settings.cases_timeout_seconds)  # type: ignore[attr-defined]
             if cases_url else None)
    app.state.cases = cases
    try:
        async with httpx.AsyncClient(timeout=settings.partner_fetch_timeout_seconds,  # type: ignore[attr-defined]
                                     follow_redirects=False) as http:
            app.state.partner_status_lists = PartnerStatusLists(
                http, ttl=settings.partner_status_list_ttl_seconds)  # type: ignore[attr-defined]
            yield
    finally:
        if cases is not None:
            await cases.aclose()


SERVICE = ServiceDefinition(
    name="credentials", title="Tongban svc-credentials", settings=Settings, root=Path(__file__).resolve().parents[3],
    metadata=Base.metadata, tables=platform,
    routers=[licence_type_router, licence_router, presentation_router, consent_router, signing_router,
             seal_router, trust_router, holder_access_router, document_router, picture_router],
    subscriptions=[*CASES_SUBSCRIPTIONS], lifespan=lifespan, lifespan_in_worker=True,
    periodic=[PeriodicTask("presentation-replay-purge", presentations.PURGE_INTERVAL,
                           presentations.purge_replay_records)],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    app = build_app(SERVICE, settings)
    inner = getattr(app, "app", app)
    audit_refusals(inner, audit)
    # The same audit for this service's other refusals of a caller: every refusal of staff or of an
    # agent is kept (the shared handler skips citizens and anonymous callers).
    handler = inner.exception_handlers[OutsideScope]
    for kind in (NotPermitted, InsufficientScope, NotIssuer, NotLegalRepresentative, NotAtCounter, NotAServiceCaller):
        inner.add_exception_handler(kind, handler)
    return app
