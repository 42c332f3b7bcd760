"""Which headers cross the gateway, in each direction."""

from __future__ import annotations

import itertools
import os
from typing import Any

from tongban.shared.framing import PROTECTED, framing_problem

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


# Tokens of `Connection` that name no header to drop.
_CONNECTION_OPTIONS = frozenset({b"keep-alive", b"close"})


def _connection_listed(value: bytes) -> frozenset[bytes]:
    """Headers the sender declared hop-by-hop in `Connection` (RFC 9110 §7.6.1)."""
    listed = {t.strip().lower() for t in value.split(b",")}
    return frozenset(listed - _CONNECTION_OPTIONS - {b""})


def _without(headers: Headers, listed: frozenset[bytes]) -> Headers:
    return [(name, value) for name, value in headers if name not in listed]


class _RequestIds:
    """New request ids: a random per-process prefix and a counter, 32 hex characters like a
    uuid4 hex. Unique without asking the OS for randomness on every request (they are
    correlation ids, not secrets)."""

    def __init__(self) -> None:
        self.prefix = os.urandom(10).hex()
        self.counter = itertools.count()

    def new(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFF_FFFF_FFFF:012x}"


new_request_id = _RequestIds().new


def _sane_request_id(value: bytes) -> str | None:
    rid = value.decode("latin-1").strip()
    return rid if 0 < len(rid) <= MAX_REQUEST_ID and rid.isprintable() else None


def request_id(headers: Headers) -> str:
    """The client's X-Request-ID when it is sane, else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            return _sane_request_id(value) or new_request_id()
    return new_request_id()


class RequestHeaders:
    """The client's request headers as the upstream gets them, and what the gateway needs to
    know, read in one pass over the headers.

    The gateway writes the body's framing itself (`Proxy.request_head`): the client's
    `Content-Length` and `Transfer-Encoding` are read, never forwarded, and `Connection` cannot
    remove them, `Host` or `Authorization`. A request that two parsers could read differently
    (`tongban.shared.framing`, the rules every service applies too) is marked `invalid`."""

    __slots__ = ("forward", "authorization", "content_length", "chunked", "request_id", "traceparent", "forwarded",
                 "invalid")

    def __init__(self, scope: dict[str, Any]) -> None:
        forward: Headers = []
        self.authorization: bytes | None = None
        self.content_length: bytes | None = None
        self.chunked = False
        self.traceparent: bytes | None = None
        self.forwarded = False         # the client sent X-Forwarded-For or -Proto (see proxy.server)
        self.invalid: str | None = None  # why the request is refused (400), if it is
        rid: str | None = None
        host: bytes | None = None
        transfer_encoding: bytes | None = None
        repeated: bytes | None = None
        listed: frozenset[bytes] = frozenset()
        for name, value in scope["headers"]:
            if name in _REQUEST_DROP:
                if name == b"host":
                    if host is not None:
                        repeated = name
                    host = value
                elif name == b"x-request-id":
                    rid = rid or _sane_request_id(value)
                elif name == b"transfer-encoding":
                    if transfer_encoding is not None:
                        repeated = name
                    transfer_encoding = value
                elif name == b"connection":
                    listed |= _connection_listed(value)
                elif name == b"x-forwarded-for" or name == b"x-forwarded-proto":
                    self.forwarded = True
                continue
            if name == b"content-length":
                if self.content_length is not None:
                    repeated = name
                self.content_length = value
                continue               # the gateway writes the framing itself
            if name == b"authorization":
                if self.authorization is not None:
                    repeated = name
                self.authorization = value
            elif name == b"traceparent":
                self.traceparent = value
            elif name.startswith(_SPOOFABLE):
                continue
            forward.append((name, value))
        if repeated is not None:
            self.invalid = f"{repeated.decode('ascii')} may be sent only once"
        else:
            self.invalid = framing_problem(self.content_length, transfer_encoding)
        self.chunked = transfer_encoding is not None
        if listed := listed - PROTECTED:
            forward = _without(forward, listed)
        self.request_id = rid or new_request_id()
        client = scope.get("client")
        peer = client[0].encode("latin-1") if client else b"unknown"
        forward.append((b"x-request-id", self.request_id.encode("latin-1")))
        forward.append((b"x-forwarded-for", peer))
        forward.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
        if host:
            forward.append((b"x-forwarded-host", host))
        self.forward = forward

    @property
    def has_body(self) -> bool:
        length = self.content_length
        return self.chunked or (length is not None and length.isdigit() and int(length) > 0)


def response_headers(raw: Headers, rid: bytes) -> Headers:
    """The upstream's response headers minus hop-by-hop ones, with the request id.

    The names arrive lower-cased (the pool's parser lowers them)."""
    out: Headers = []
    has_id = False
    listed: frozenset[bytes] = frozenset()
    for name, value in raw:
        if name in _RESPONSE_DROP:
            if name == b"connection":
                listed |= _connection_listed(value)
            continue
        if name == b"x-request-id":
            has_id = True
        out.append((name, value))
    if listed:
        out = _without(out, listed)
        has_id = b"x-request-id" not in listed and has_id
    if not has_id:
        out.append((b"x-request-id", rid))
    return out
