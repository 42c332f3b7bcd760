"""A lean HTTP/1.1 client for the hop to the services: a free list of idle keep-alive
connections per upstream, asyncio.Protocol for the bytes and httptools (llhttp) to parse the
responses.

Why not httpx: its pool polls every pooled connection on each request and kept ~6% of the
direct throughput here (GATEWAY-NOTES.md). This one does only what a reverse proxy needs:

- one request per connection at a time, no pipelining;
- a connection goes back to the free list only if the response allowed keep-alive, both the
  request and the response went through whole, and it was not an answer to HEAD (llhttp would
  wait for Content-Length bytes that never come);
- a body with neither length nor chunking ends when the upstream closes the connection;
- chunk framing is removed by the parser (the caller drops `Transfer-Encoding` and re-frames);
- bodies stream both ways with back-pressure (reading pauses when the caller falls behind);
- a reused connection that the upstream had closed meanwhile fails before any byte came back:
  `StaleConnection`, which the caller may retry once for a request without a body.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httptools

Headers = list[tuple[bytes, bytes]]
HIGH_WATER = 256 * 1024
MAX_IDLE = 256


class UpstreamError(Exception):
    """The hop failed; subclasses say how (the gateway maps them to 502/503/504)."""


class ConnectFailed(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    pass


class UpstreamClosed(UpstreamError):
    """The upstream closed the connection or sent something that is not HTTP."""


class StaleConnection(UpstreamClosed):
    """A reused idle connection was already closed: nothing reached the upstream's application."""


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout("the upstream did not answer in time"))


class Connection(asyncio.Protocol):
    """One upstream connection; its current response is read through `headers()` and `body()`."""

    def __init__(self) -> None:
        # Typed loosely: uvloop's transports are not asyncio.Transport subclasses.
        self.transport: Any = None
        self.closed = False
        self.reused = False
        self._loop = asyncio.get_running_loop()
        self._can_write: asyncio.Future[None] | None = None
        # Called after each read and at close instead of waking a waiter, when someone drives
        # this connection by callbacks (the gateway's own protocol, `proxy.server`).
        self.listener: Callable[[], None] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        # The parser itself is kept: after a whole keep-alive response llhttp waits for the next one.
        self.status = 0
        self.response_headers: Headers = []
        self.keep_alive = False
        self.head = False
        self.framed = False            # Content-Length or chunked: the body's end is known
        self.content_length: int | None = None
        self.headers_done = False
        self.complete = False
        self.got_bytes = False
        self.error: UpstreamError | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamClosed(f"the upstream's answer is not valid HTTP: {exc}"))
            self.close()
        if self.listener is not None:
            self.listener()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.headers_done and not self.framed and not self.head and not self.complete and self.error is None:
            self.complete = True       # a close-delimited body ends here
        elif not self.complete and self.error is None:
            kind = StaleConnection if self.reused and not self.got_bytes else UpstreamClosed
            self._fail(kind("the upstream closed the connection"))
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)
        self._wake()
        if self.listener is not None:
            self.listener()

    def pause_writing(self) -> None:
        self._can_write = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)
        self._can_write = None

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length":
            self.framed = True
            self.content_length = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            self.framed = True
        self.response_headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        if self.status < 200:          # 1xx: the real answer follows
            self.response_headers = []
            self.framed = False
            self.content_length = None
            return
        # Read here: the parser forgets it once the message is complete.
        self.keep_alive = self._parser.should_keep_alive()
        self.headers_done = True
        if self.status in (204, 304):
            self.framed = True
        if self.head:
            self.complete = True
            self.keep_alive = False    # llhttp would wait for the announced body
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.headers_done:
            self.complete = True
            self._wake()

    # the caller's side
    def _fail(self, error: UpstreamError) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self, timeout: float) -> None:
        # A bare timer handle rather than asyncio.timeout(): this runs once per proxied request,
        # and the context manager's bookkeeping (Timeout object, task uncancel) costs more.
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def start(self, head: bytes, is_head: bool) -> None:
        self.head = is_head
        self.transport.write(head)

    async def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise self.error or UpstreamClosed("the upstream closed the connection while the request was sent")
        self.transport.write(data)
        if self._can_write is not None:
            await self._can_write

    async def headers(self, timeout: float) -> None:
        while not self.headers_done:
            if self.error is not None:
                raise self.error
            await self._wait(timeout)

    def take_buffered(self) -> bytes:
        """What of the body has arrived so far, as one piece."""
        data = b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
        self._chunks.clear()
        self._buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def body(self, timeout: float) -> AsyncIterator[bytes]:
        """The rest of the body as it arrives; raises if the upstream breaks off before its end."""
        while True:
            if self._chunks:
                yield self.take_buffered()
                continue
            if self.complete:
                return
            if self.error is not None:
                raise self.error
            await self._wait(timeout)

    @property
    def reusable(self) -> bool:
        return self.complete and self.keep_alive and self.error is None and not self.closed and not self._chunks

    def recycle(self) -> None:
        self.listener = None
        self._reset()
        self.reused = True

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True


class UpstreamPool:
    """Idle keep-alive connections to one upstream, most recently used first."""

    def __init__(self, host: str, port: int, connect_timeout: float, max_idle: int = MAX_IDLE) -> None:
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self._idle: list[Connection] = []

    def idle(self) -> Connection | None:
        """The most recently used idle connection still open, if any (no await on the hot path)."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        return None

    async def acquire(self, fresh: bool = False) -> Connection:
        if not fresh and (conn := self.idle()) is not None:
            return conn
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(Connection, self.host, self.port)
        except TimeoutError as exc:
            raise ConnectFailed(f"connecting to {self.host}:{self.port} timed out") from exc
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}") from exc
        return conn

    def release(self, conn: Connection) -> None:
        if conn.reusable and len(self._idle) < self.max_idle:
            conn.recycle()
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


def request_head(method: str, target: bytes, host: bytes, headers: Headers, framing: bytes) -> bytes:
    """The request line and headers, with the upstream's Host and the body's framing header."""
    parts = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    for name, value in headers:
        parts += [name, b": ", value, b"\r\n"]
    parts += [framing, b"\r\n"]
    return b"".join(parts)


async def send_body(conn: Connection, chunks: AsyncIterator[bytes], chunked: bool) -> None:
    """Stream the request body; chunked framing when the client's length is unknown."""
    async for chunk in chunks:
        if chunked:
            await conn.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        else:
            await conn.write(chunk)
    if chunked:
        await conn.write(b"0\r\n\r\n")

