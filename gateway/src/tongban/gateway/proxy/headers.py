"""Which headers cross the gateway, in each direction."""

from __future__ import annotations

import uuid
from typing import Any

Headers = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization",
                        b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade"})
# Hop-by-hop, or set by the gateway itself from what it saw: the client's value is replaced.
# X-Forwarded-For names the one client address the ASGI server vouches for (its
# --forwarded-allow-ips decides whether a load balancer in front is believed), never a chain
# the client wrote itself.
_REQUEST_DROP = HOP_BY_HOP | {b"expect", b"host", b"x-request-id", b"x-forwarded-for", b"x-forwarded-proto",
                              b"x-forwarded-host"}
# Identity headers anyone could send: no service trusts them, and none ever sees a client's.
_SPOOFABLE = (b"x-principal", b"x-user", b"x-forwarded-user", b"proxy-")
# The server in front of the gateway sets its own Date and Server.
_RESPONSE_DROP = HOP_BY_HOP | {b"date", b"server"}
MAX_REQUEST_ID = 100


def _connection_listed(headers: Headers) -> frozenset[bytes]:
    """Headers the sender declared hop-by-hop in `Connection` (RFC 9110 §7.6.1)."""
    listed: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            listed.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return frozenset(listed)


def request_id(headers: Headers) -> str:
    """The client's X-Request-ID when it is sane, else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            rid = value.decode("latin-1").strip()
            if 0 < len(rid) <= MAX_REQUEST_ID and rid.isprintable():
                return rid
            break
    return uuid.uuid4().hex


class RequestHeaders:
    """The client's request headers as the upstream gets them, and what the gateway needs to know."""

    __slots__ = ("forward", "authorization", "content_length", "chunked")

    def __init__(self, scope: dict[str, Any], rid: str) -> None:
        headers: Headers = scope["headers"]
        listed = _connection_listed(headers)
        forward: Headers = []
        self.authorization: bytes | None = None
        self.content_length: bytes | None = None
        self.chunked = False
        host = b""
        for name, value in headers:
            if name == b"host":
                host = value
            elif name == b"transfer-encoding":
                self.chunked = True
            elif name == b"content-length":
                self.content_length = value
            elif name == b"authorization":
                self.authorization = value
            if name in _REQUEST_DROP or name in listed or name.startswith(_SPOOFABLE):
                continue
            forward.append((name, value))
        client = scope.get("client")
        peer = client[0].encode("latin-1") if client else b"unknown"
        forward.append((b"x-request-id", rid.encode("latin-1")))
        forward.append((b"x-forwarded-for", peer))
        forward.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
        if host:
            forward.append((b"x-forwarded-host", host))
        self.forward = forward

    @property
    def has_body(self) -> bool:
        return self.chunked or (self.content_length is not None and self.content_length != b"0")


def response_headers(raw: Headers, rid: str) -> Headers:
    """The upstream's response headers minus hop-by-hop ones, with the request id."""
    listed = _connection_listed(raw)
    out: Headers = []
    has_id = False
    for name, value in raw:
        name = name.lower()
        if name in _RESPONSE_DROP or name in listed:
            continue
        has_id = has_id or name == b"x-request-id"
        out.append((name, value))
    if not has_id:
        out.append((b"x-request-id", rid.encode("latin-1")))
    return out
