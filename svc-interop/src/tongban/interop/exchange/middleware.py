"""Raw ASGI around the exchange endpoints: every answer to a partner is signed and bound to its
request, and every exchange (admitted or refused) is appended to the hash-chained log before
the answer leaves.

It sits inside the platform's edge middleware (request id, body limit) and outside FastAPI's
error handling, so problem+json refusals are signed and logged like any other answer.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from starlette.datastructures import Headers

from tongban.interop import signing
from tongban.interop.ledger import service as ledger

log = logging.getLogger("tongban.interop.exchange")


class SignedExchange:
    def __init__(self, app: Any, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
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
        await self._answer(scope, body, start, b"".join(out), send)

    async def _answer(self, scope: dict[str, Any], body: bytes, start: dict[str, Any], payload: bytes,
                      send: Any) -> None:
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
        reason = _problem_code(Headers(raw=headers), payload) if status >= 400 else None
        outcome = "accepted" if status < 400 else "refused"
        if reason:
            log.warning("refused %s %s from %s: %s (%d)", scope["method"], scope["path"],
                        request_headers.get(signing.SENDER), reason, status)
        path = scope["path"] + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
        entry = ledger.Exchange(
            direction="inbound", method=scope["method"], target=app.state.settings.public_url + path,
            request_headers=ledger.kept(request_headers), request_body=body, outcome=outcome,
            partner=(request_headers.get(signing.SENDER) or "")[:6] or None,
            message_id=(request_headers.get(signing.MESSAGE_ID) or "")[:100] or None, response_status=status,
            response_headers=ledger.kept(Headers(raw=headers)), response_body=payload, reason=reason)
        async with app.state.sessionmaker() as session, session.begin():
            await ledger.append(session, entry)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload, "more_body": False})


def _problem_code(headers: Headers, payload: bytes) -> str | None:
    if not headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        return str(json.loads(payload).get("code")) or None
    except (ValueError, AttributeError):
        return "unreadable problem"
