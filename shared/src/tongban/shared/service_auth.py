"""How one service calls another's internal API as itself.

A service is an OAuth client of the gateway (`grant_type=client_credentials`, role `service`,
the scopes the gateway's SERVICE_SCOPES grant that service). The callee verifies the token
like any other (`Requires("credentials:use")`), so no service trusts a bare header and every
call is attributable (`sub = service:<name>`) in the callee's audit trail.

Usage, in a lifespan:

    source = token_source(settings)                    # None when the service has no client
    app.state.credentials = service_client(settings.credentials_url, source)

Tests give a `StaticToken` minted by the test token issuer instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Generator
from typing import Protocol

import httpx

from tongban.shared.config import ServiceSettings
from tongban.shared.errors import AppError


class UpstreamUnavailable(AppError):
    """Another service (or the gateway's token endpoint) did not answer usefully."""

    code, status, title = "upstream_unavailable", 503, "Another service is unavailable"


class TokenSource(Protocol):
    async def token(self, *, refresh: bool = False) -> str: ...


class StaticToken:
    """A fixed bearer token (tests, or an operator-issued token for a one-off job)."""

    def __init__(self, value: str) -> None:
        self._value = value

    async def token(self, *, refresh: bool = False) -> str:
        return self._value


class ClientCredentials:
    """Fetches and caches an access token from the gateway; renews it shortly before it expires
    (or at once when the callee answered 401, e.g. after a key rotation)."""

    MARGIN_SECONDS = 30

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str | None = None,
                 timeout: float = 5.0) -> None:
        self._url, self._id, self._secret, self._scope = token_url, client_id, client_secret, scope
        self._timeout = timeout
        self._value: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self, *, refresh: bool = False) -> str:
        async with self._lock:
            if refresh or self._value is None or time.monotonic() >= self._expires_at:
                await self._fetch()
            assert self._value is not None
            return self._value

    async def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                resp = await http.post(self._url, data=form, auth=(self._id, self._secret))
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"token endpoint refused client {self._id}: HTTP {resp.status_code}")
        body = resp.json()
        self._value = str(body["access_token"])
        lifetime = float(body.get("expires_in", 300))
        self._expires_at = time.monotonic() + max(lifetime - self.MARGIN_SECONDS, lifetime / 2)


class BearerAuth(httpx.Auth):
    """httpx auth flow: adds the service's token; on a 401 fetches a new one and retries once."""

    requires_response_body = False

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("service calls are async")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self._source.token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self._source.token(refresh=True)}"
            yield request


def token_source(settings: ServiceSettings) -> TokenSource | None:
    """The service's own client credentials from its settings, or None when it has none."""
    if settings.token_url and settings.service_client_id and settings.service_client_secret:
        return ClientCredentials(settings.token_url, settings.service_client_id, settings.service_client_secret)
    return None


def service_client(base_url: str, source: TokenSource | None, timeout: float = 5.0) -> httpx.AsyncClient:
    """An http client for another service's API that authenticates as this service. The caller
    closes it in its lifespan. Without a token source, calls go out unauthenticated and the
    callee refuses anything but its public routes. It asks for English problem words (the
    callee's default is Chinese, for people): a service branches on `code` and logs or passes on
    the `detail`, and the edge puts a passed-on problem into its own caller's language by code."""
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, headers={"Accept-Language": "en"},
                             auth=BearerAuth(source) if source is not None else None)
