"""Access tokens for calling partners: OAuth 2.0 client credentials at each partner's gateway."""

from __future__ import annotations

import asyncio
import time

import httpx
from pydantic import SecretStr

from tongban.interop.partner.models import Partner

SCOPE = "interop:exchange"
EARLY_REFRESH = 30.0


class TokenUnavailable(RuntimeError):
    """The partner's gateway did not give us a token (retried like any failed delivery)."""


class PartnerTokens:
    def __init__(self, http: httpx.AsyncClient, secrets: dict[str, SecretStr]) -> None:
        self.http = http
        self.secrets = secrets
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    async def token_for(self, partner: Partner) -> str | None:
        """A bearer token for `partner`, cached until shortly before it expires; None when the
        partner has no token endpoint configured."""
        if not partner.token_url or not partner.client_id:
            return None
        hit = self._cache.get(partner.region_code)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        secret = self.secrets.get(partner.region_code)
        if secret is None:
            raise TokenUnavailable(f"no client secret for {partner.region_code} (INTEROP_PARTNER_SECRETS)")
        async with self._lock:
            try:
                resp = await self.http.post(partner.token_url, data={"grant_type": "client_credentials",
                                                                      "scope": SCOPE},
                                            auth=(partner.client_id, secret.get_secret_value()))
            except httpx.HTTPError as exc:
                raise TokenUnavailable(f"token endpoint unreachable: {exc!r}") from exc
            if resp.status_code != 200:
                raise TokenUnavailable(f"token endpoint answered {resp.status_code}")
            data = resp.json()
            token = str(data["access_token"])
            ttl = float(data.get("expires_in", 300))
            self._cache[partner.region_code] = (token, time.monotonic() + max(1.0, ttl - EARLY_REFRESH))
            return token

    def forget(self, region_code: str) -> None:
        self._cache.pop(region_code, None)
