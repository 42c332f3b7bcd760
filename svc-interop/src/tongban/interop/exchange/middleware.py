"""Raw ASGI around the exchange endpoints: the partner is authenticated and its signature checked
before anything is stored; every answer to a partner is signed and bound to its request; every
exchange of an authenticated partner (admitted or refused) is appended to the hash-chained log
before the answer leaves.

A request that is not an authenticated partner's signed message (no or a bad token, not a
partner, a sender other than the token's, an unknown partner, a missing, malformed or forged
signature, a stale timestamp) is refused without writing anything: it is counted
(`interop_unauthenticated_refusals_total{reason}`) and logged in one line with its body's
digest. Its body is read only to digest it (and, once the token is good, to check the signature).
Refusals of authenticated partners go to the log with their body's digest, not the body.

It sits inside the platform's edge middleware (request id, body limit) and outside FastAPI's
error handling, so problem+json refusals are signed and logged like any other answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any

from starlette.datastructures import Headers

from tongban.interop import signing
from tongban.interop.exchange import service
from tongban.interop.ledger import service as ledger
from tongban.shared.auth import InsufficientScope, InvalidToken, Principal
from tongban.shared.errors import AppError, Unauthorized, problem_response

log = logging.getLogger("tongban.interop.exchange")
SCOPE = "interop:exchange"


class SignedExchange:
    def __init__(self, app: Any, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return await self.app(scope, receive, send)
        app = scope["app"]
        headers = Headers(scope=scope)
        try:
            principal = await _partner_token(app, headers)
        except AppError as exc:
            # Not even a partner's token: the body is digested as it streams, never kept.
            digest, size = await _digest_stream(receive)
            return await self._refuse_unstored(scope, exc, digest, size, send)
        body = await _read(receive)
        settings = app.state.settings
        target = settings.public_url + _path(scope)
        try:
            # The sender's keys from this process's directory (checked against the registry's
            # version when the nonce is claimed), else one statement, outside a transaction.
            async with app.state.reads() as session:
                auth = await service.authenticate(session, principal, scope["method"], target, headers, body,
                                                  settings.clock_skew_seconds, app.state.partners)
        except AppError as exc:
            return await self._refuse_unstored(scope, exc, hashlib.sha256(body).hexdigest(), len(body), send)
        scope.setdefault("state", {})["interop_sender"] = auth

        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: dict[str, Any] = {}
        out: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                out.append(message.get("body", b""))

        await self.app(scope, replay, capture)
        await self._answer(scope, body, start, b"".join(out), send, sender=auth.partner.region_code)

    async def _refuse_unstored(self, scope: dict[str, Any], exc: AppError, digest: str, size: int,
                               send: Any) -> None:
        app = scope["app"]
        app.state.metrics.counter("interop_unauthenticated_refusals_total",
                                  "Exchange requests refused before authentication (nothing stored)",
                                  ("reason",)).labels(exc.code).inc()
        headers = Headers(scope=scope)
        log.warning("refused unauthenticated %s %s: %s", scope["method"], scope["path"], exc.code,
                    extra={"fields": {"reason": exc.code, "status": exc.status, "body_sha256": digest,
                                      "body_bytes": size, "claimed_sender": (headers.get(signing.SENDER) or "")[:6]}})
        response = problem_response(exc.status, exc.code, exc.title, exc.detail, scope["path"], **exc.extra)
        start: dict[str, Any] = {}
        out: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                out.append(message.get("body", b""))

        await response(scope, _nothing, capture)
        await self._answer(scope, None, start, b"".join(out), send, sender=None)

    async def _answer(self, scope: dict[str, Any], body: bytes | None, start: dict[str, Any], payload: bytes,
                      send: Any, sender: str | None) -> None:
        """Sign the answer; log the exchange unless `body` is None (an unauthenticated request)."""
        app = scope["app"]
        ring = app.state.keyring
        request_headers = Headers(scope=scope)
        status = start.get("status", 500)
        binding = signing.request_hash(request_headers.get("signature-input", ""), request_headers.get("signature", ""))
        interop = {signing.SENDER: ring.region_code, signing.MESSAGE_ID: str(uuid.uuid4()),
                   signing.REQUEST_HASH: binding}
        signed = signing.sign_response(ring.private, ring.kid, status, interop, payload)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-digest",)]
        headers += [(k.encode(), v.encode()) for k, v in {**interop, **signed.headers}.items()]
        if body is not None:
            reason = _problem_code(Headers(raw=headers), payload) if status >= 400 else None
            refused = status >= 400
            if reason:
                log.warning("refused %s %s from %s: %s (%d)", scope["method"], scope["path"], sender, reason, status)
            entry = ledger.Exchange(
                direction="inbound", method=scope["method"], target=app.state.settings.public_url + _path(scope),
                request_headers=ledger.kept(request_headers), request_body=body,
                outcome="refused" if refused else "accepted", partner=sender,
                message_id=(request_headers.get(signing.MESSAGE_ID) or "")[:100] or None, response_status=status,
                response_headers=ledger.kept(Headers(raw=headers)), response_body=payload, reason=reason,
                # A refusal keeps its request's digest, not the body (the answer, ours, is kept).
                keep_request_body=not refused)
            await app.state.ledger.append(entry)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload, "more_body": False})


async def _partner_token(app: Any, headers: Headers) -> Principal:
    """The caller's verified token, holding the exchange scope (headers only: no body read yet)."""
    value = headers.get("authorization")
    if not value:
        raise Unauthorized("the exchange needs a partner access token")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("use 'Authorization: Bearer <token>'")
    principal: Principal = await app.state.token_verifier.verify(token.strip())
    if not principal.has(SCOPE):
        raise InsufficientScope(f"missing scope: {SCOPE}")
    return principal


async def _read(receive: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _digest_stream(receive: Any) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        digest.update(chunk)
        size += len(chunk)
        if not message.get("more_body"):
            return digest.hexdigest(), size


async def _nothing() -> dict[str, Any]:
    return {"type": "http.disconnect"}


def _path(scope: dict[str, Any]) -> str:
    return scope["path"] + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")


def _problem_code(headers: Headers, payload: bytes) -> str | None:
    if not headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        return str(json.loads(payload).get("code")) or None
    except (ValueError, AttributeError):
        return "unreadable problem"
