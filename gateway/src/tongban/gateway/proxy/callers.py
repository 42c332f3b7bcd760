"""Verified bearer tokens, remembered per service by the raw `Authorization` value.

The shared `TokenVerifier` already caches verified tokens, but reaching it costs a header
decode and two coroutine hops per request; here a hit is one dictionary lookup on the bytes
the client sent. An entry lives until the token's `exp` (at most CACHE_SECONDS) and only while
the key ring that vouched for it is unchanged (a retired key drops its tokens at once).
Revocation is not cached: the deny list is asked on every request (`tongban.shared.revocation`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tongban.gateway.token.keys import KeyRing
from tongban.shared.auth import Principal, parse_bearer

CACHE_SECONDS = 300.0
CACHE_MAX = 50_000


@dataclass(slots=True, frozen=True)
class Caller:
    """What the proxy needs of a verified token: who (for the rate limit) and what it depends on
    (for the deny list)."""

    sub: str
    role: str
    iat: float
    sid: str | None                  # the login (refresh-token family) that produced it
    delegations: tuple[str, ...]     # agents: the delegations its `agent_for` rests on
    expires: float                   # cached until
    epoch: int

    @classmethod
    def of(cls, principal: Principal, epoch: int, now: float) -> "Caller":
        claims = principal.claims
        sid = claims.get("sid")
        return cls(sub=principal.sub, role=principal.role, iat=float(claims.get("iat", 0)),
                   sid=sid if isinstance(sid, str) else None,
                   delegations=principal.delegations,
                   expires=min(float(claims["exp"]), now + CACHE_SECONDS), epoch=epoch)


class VerifiedTokens:
    """Tokens verified for one audience (one service behind the gateway)."""

    def __init__(self, ring: KeyRing, audience: str) -> None:
        self.ring = ring
        self.audience = audience
        self._by_header: dict[bytes, Caller] = {}

    def get(self, authorization: bytes) -> Caller | None:
        """The cached caller of this header if still good, else None (verify it then)."""
        caller = self._by_header.get(authorization)
        if caller is None or caller.epoch != self.ring.epoch or caller.expires <= time.time():
            return None
        return caller

    async def verify(self, authorization: bytes) -> Caller:
        """Check the signature, issuer, audience and expiry; raises InvalidToken."""
        token = parse_bearer(authorization.decode("latin-1"))  # the services' rule, to the letter
        principal = await self.ring.verify(token, self.audience)
        now = time.time()
        caller = Caller.of(principal, self.ring.epoch, now)
        if len(self._by_header) >= CACHE_MAX:
            self._by_header = {k: v for k, v in self._by_header.items() if v.expires > now}
            if len(self._by_header) >= CACHE_MAX:
                self._by_header.clear()
        self._by_header[authorization] = caller
        return caller
