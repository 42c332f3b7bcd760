"""The pass-through: one request to `/api/v1/<service>/...` forwarded to that service, streamed
both ways, with the token checked for that service, the body size limited and the gateway's own
failures mapped to problem+json (502 bad gateway, 503 unavailable, 504 timeout).

The upstream's answer, problem+json included, goes back unchanged but for hop-by-hop headers.
Once its headers are sent, an upstream that breaks off makes the gateway abort the client's
connection: ending the response cleanly would pass a truncated body off as whole.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx

from tongban.gateway.proxy.headers import RequestHeaders, request_id, response_headers
from tongban.gateway.token.errors import bearer_challenge
from tongban.gateway.token.keys import KeyRing
from tongban.shared.auth import InvalidToken
from tongban.shared.errors import problem_response
from tongban.shared.logging import request_id_var, trace_id_var

log = logging.getLogger("tongban.gateway.proxy")
Scope = dict[str, Any]


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


class UpstreamBrokeOff(Exception):
    """The upstream failed after the response had started: the client's connection is aborted."""


class RequestBody:
    """The client's body as an async iterator for httpx: counted against the limit, never buffered."""

    def __init__(self, receive: Any, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        while not self.done:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.limit:
                raise BodyTooLarge()
            self.done = not message.get("more_body", False)
            if chunk:
                yield chunk


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _has_dot_segment(path: str) -> bool:
    return "/." in path and any(seg in (".", "..") for seg in path.split("/"))


class Proxy:
    """Forwards to the services by name; built in the lifespan with the shared client and keys."""

    def __init__(self, upstreams: dict[str, str], client: httpx.AsyncClient, ring: KeyRing, max_body: int,
                 timeout: float) -> None:
        self.upstreams = {name: httpx.URL(url.rstrip("/")) for name, url in upstreams.items()}
        self.client = client
        self.ring = ring
        self.max_body = max_body
        self.timeout = httpx.Timeout(timeout).as_dict()

    async def __call__(self, scope: Scope, receive: Any, send: Any, service: str) -> None:
        rid = request_id(scope["headers"])
        traceparent = next((v for k, v in scope["headers"] if k == b"traceparent"), b"").decode("latin-1")
        rtoken = request_id_var.set(rid)
        ttoken = trace_id_var.set(traceparent.split("-")[1] if traceparent.count("-") == 3 else None)
        try:
            await self._forward(scope, receive, send, service, rid)
        finally:
            request_id_var.reset(rtoken)
            trace_id_var.reset(ttoken)

    async def _problem(self, scope: Scope, receive: Any, send: Any, status: int, code: str, title: str,
                       detail: str, headers: dict[str, str] | None = None) -> None:
        response = problem_response(status, code, title, detail, scope["path"],
                                    headers={"x-request-id": request_id_var.get() or "", **(headers or {})})
        await response(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Any, send: Any, service: str, rid: str) -> None:
        base = self.upstreams.get(service)
        if base is None:
            return await self._problem(scope, receive, send, 404, "unknown_service", "No such service",
                                       f"there is no service {service[:50]!r} under /api/v1/")
        if _has_dot_segment(scope["path"]):
            return await self._problem(scope, receive, send, 400, "invalid_path", "Invalid path",
                                       "a path may not contain '.' or '..' segments")
        headers = RequestHeaders(scope, rid)
        if headers.content_length is not None and not headers.content_length.isdigit():
            return await self._problem(scope, receive, send, 400, "invalid_content_length", "Invalid Content-Length",
                                       "Content-Length must be a number of bytes")
        if headers.content_length is not None and int(headers.content_length) > self.max_body:
            return await self._problem(scope, receive, send, 413, "payload_too_large", "Request body too large",
                                       f"the limit is {self.max_body} bytes")
        if headers.authorization is not None:
            try:
                scheme, _, token = headers.authorization.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise InvalidToken("use 'Authorization: Bearer <token>'")
                await self.ring.verify(token.strip(), service)
            except InvalidToken as exc:
                return await self._problem(scope, receive, send, 401, exc.code, exc.title, exc.detail,
                                           {"WWW-Authenticate": bearer_challenge(exc.code)})

        raw_path = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        query = scope.get("query_string", b"")
        url = base.copy_with(raw_path=base.raw_path.rstrip(b"/") + raw_path + (b"?" + query if query else b""))
        body = RequestBody(receive, self.max_body) if headers.has_body else None
        request = httpx.Request(scope["method"], url, headers=headers.forward, content=body,
                                extensions={"timeout": self.timeout})
        try:
            response = await self.client.send(request, stream=True)
        except BodyTooLarge:
            return await self._problem(scope, receive, send, 413, "payload_too_large", "Request body too large",
                                       f"the limit is {self.max_body} bytes")
        except ClientGone:
            return None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            log.warning("%s unavailable: %r", service, exc)
            return await self._problem(scope, receive, send, 503, "upstream_unavailable", "Service unavailable",
                                       f"{service} cannot be reached; try again later", {"Retry-After": "1"})
        except httpx.TimeoutException as exc:
            log.warning("%s timed out: %r", service, exc)
            return await self._problem(scope, receive, send, 504, "upstream_timeout", "Service timed out",
                                       f"{service} did not answer in time")
        except httpx.TransportError as exc:
            log.warning("%s failed: %r", service, exc)
            return await self._problem(scope, receive, send, 502, "bad_gateway", "Bad gateway",
                                       f"{service} gave no valid answer")
        try:
            await self._relay(response, receive, send, rid, watch=body is None or body.done)
        finally:
            await response.aclose()

    async def _relay(self, response: httpx.Response, receive: Any, send: Any, rid: str, watch: bool) -> None:
        # Once the request body is read, the next receive() reports the client going away: stop
        # reading the upstream then (the server drops writes to a gone client silently).
        gone = asyncio.ensure_future(_until_disconnect(receive)) if watch else None
        try:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": response_headers(response.headers.raw, rid)})
            try:
                async for chunk in response.aiter_raw():
                    if gone is not None and gone.done():
                        return
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.TransportError as exc:
                raise UpstreamBrokeOff(f"the upstream broke off mid-response: {exc!r}") from exc
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if gone is not None:
                gone.cancel()
