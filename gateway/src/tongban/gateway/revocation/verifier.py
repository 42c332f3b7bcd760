from tongban.gateway.token.keys import KeyRing
from tongban.shared.auth import REVOKED_DETAIL, Principal, TokenRevoked
from tongban.shared.revocation import DenyList


class CheckedVerifier:
    """`app.state.token_verifier` for the gateway's own routes: the key ring's verification for
    the gateway's audience, then the deny list (a revoked token is refused here as at the proxy)."""

    def __init__(self, ring: KeyRing, audience: str, denylist: DenyList) -> None:
        self.ring = ring
        self.audience = audience
        self.denylist = denylist

    async def verify(self, token: str) -> Principal:
        principal = await self.ring.verify(token, self.audience)
        if not self.denylist.empty and self.denylist.refuses(principal):
            raise TokenRevoked(REVOKED_DETAIL)
        return principal
