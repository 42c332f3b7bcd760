"""The route dependency every exchange endpoint uses: `Depends(Exchange("case.forward"))`."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.exchange import service
from tongban.interop.exchange.errors import (
    BadMessageId, NonceReplayed, NotAPartner, SenderMismatch, ServiceNotGranted, UnknownPartner,
)
from tongban.interop.signing import (
    BadSignature, DigestMismatch, MalformedSignature, SignatureMissing, StaleTimestamp, UnknownKey,
)
from tongban.interop.policy import ERRORS as AUTH_ERRORS
from tongban.interop.policy import POLICY
from tongban.shared.db import SessionDep
from tongban.shared.policy import Access, Authorize

EXCHANGE_ERRORS = (*AUTH_ERRORS, NotAPartner, SenderMismatch, UnknownPartner, SignatureMissing, MalformedSignature,
                   UnknownKey, BadSignature, DigestMismatch, StaleTimestamp, BadMessageId, ServiceNotGranted,
                   NonceReplayed)


def Exchange(service_name: str, claim_alone: bool = False) -> Callable[..., Awaitable[service.Inbound]]:  # noqa: N802 - reads as a guard
    """Admit a signed partner message for `service_name`, or refuse it (the middleware logs both).
    The caller half is the policy's `exchange.<service_name>` (a partner system's token).

    `claim_alone`: for a route that commits the nonce's claim before its work anyway (one that
    calls svc-cases with no transaction open: forwarding.router._open), the claim is its own
    statement, committed as it runs (the AUTOCOMMIT sessions, `app.state.reads`): one round trip
    where the request's transaction took three (BEGIN, the claim, COMMIT). A message refused after
    its claim (the grant, an item not granted, a field the route refuses) then keeps its nonce
    used; a partner sends every message, and every resend, with a fresh nonce."""
    authorize = Authorize(POLICY, f"exchange.{service_name}")

    async def admitted(request: Request, session: SessionDep,
                       access: Annotated[Access, Depends(authorize)]) -> service.Inbound:
        if not claim_alone:
            return await _admit(request, session, access, service_name)
        async with request.app.state.reads() as alone:
            return await _admit(request, alone, access, service_name)

    return admitted


async def _admit(request: Request, session: AsyncSession, access: Access, service_name: str) -> service.Inbound:
    settings = request.app.state.settings
    directory: service.PartnerDirectory | None = getattr(request.app.state, "partners", None)

    async def here() -> service.Authenticated:
        """The sender and its signature checked against the registry as this session sees it."""
        assert access.principal is not None  # the partner rule admits no anonymous caller
        target = settings.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return await service.authenticate(session, access.principal, request.method, target, request.headers,
                                          await request.body(), settings.clock_skew_seconds)

    async def again() -> service.Authenticated:
        if directory is not None:
            directory.forget()  # a copy older than the registry: every partner is read again
        return await here()

    # The edge (SignedExchange) authenticated the sender and its signature before anything
    # was stored; what is left is the message id, the grant and the nonce (and, when the
    # registry changed since the edge's copy of the partner, authenticating again).
    auth: service.Authenticated | None = getattr(request.state, "interop_sender", None)
    if auth is None:
        return await service.admit_authenticated(session, await here(), service_name, request.headers,
                                                 settings.clock_skew_seconds)
    return await service.admit_authenticated(session, auth, service_name, request.headers,
                                             settings.clock_skew_seconds, again=again)
