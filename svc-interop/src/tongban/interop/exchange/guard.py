"""The route dependency every exchange endpoint uses: `Depends(Exchange("case.forward"))`."""

from typing import Annotated

from fastapi import Depends, Request

from tongban.interop.exchange import service
from tongban.interop.exchange.errors import (
    BadMessageId, NonceReplayed, NotAPartner, SenderMismatch, ServiceNotGranted, UnknownPartner,
)
from tongban.interop.signing import (
    BadSignature, DigestMismatch, MalformedSignature, SignatureMissing, StaleTimestamp, UnknownKey,
)
from tongban.shared.auth import AUTH_ERRORS, Principal, Requires
from tongban.shared.db import SessionDep

EXCHANGE_ERRORS = (*AUTH_ERRORS, NotAPartner, SenderMismatch, UnknownPartner, SignatureMissing, MalformedSignature,
                   UnknownKey, BadSignature, DigestMismatch, StaleTimestamp, BadMessageId, ServiceNotGranted,
                   NonceReplayed)


class Exchange:
    """Admit a signed partner message for `service`, or refuse it (the middleware logs both)."""

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name

    async def __call__(self, request: Request, session: SessionDep,
                       principal: Annotated[Principal, Depends(Requires("interop:exchange"))]) -> service.Inbound:
        settings = request.app.state.settings
        # The edge (SignedExchange) authenticated the sender and its signature before anything
        # was stored; what is left is the message id, the grant and the nonce.
        auth: service.Authenticated | None = getattr(request.state, "interop_sender", None)
        if auth is None:
            target = settings.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
            body = await request.body()
            auth = await service.authenticate(session, principal, request.method, target, request.headers, body,
                                              settings.clock_skew_seconds)
        return await service.admit_authenticated(session, auth, self.service_name, request.headers,
                                                 settings.clock_skew_seconds)
