"""A service's deny list follows the gateway's revocation events against a real NATS server:
what was revoked before the process started is replayed, what is revoked later arrives, and a
service that starts before the gateway has made its stream catches up once it exists."""

import datetime as dt

from tongban.shared.auth import Principal
from tongban.shared.contracts.gateway import TOKEN_REVOKED, RevokedEntryV1, TokenRevokedV1
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.revocation import DenyList, RevocationFollower
from tongban.shared.testing.plugin import wait_for


def principal(sub: str, sid: str | None = None, iat: float = 1000.0, delegations: list[str] | None = None) -> Principal:
    claims = {"sub": sub, "iat": iat, "role": "citizen"}
    if sid is not None:
        claims["sid"] = sid
    if delegations is not None:
        claims["agent_for"] = {"credit_code": "91440000MA00000000", "delegations": delegations}
    return Principal.from_claims(claims)


def refuses(denylist: DenyList, who: Principal):  # noqa: ANN201 - a predicate for wait_for
    async def check() -> bool | None:
        return denylist.refuses(who) or None
    return check


async def revoke(js, *entries: RevokedEntryV1) -> None:  # noqa: ANN001
    event = make_event("gateway", TOKEN_REVOKED, TokenRevokedV1(entries=list(entries), reason="test"))
    await js.publish(TOKEN_REVOKED, event.model_dump_json().encode())


def entry(kind: str, value: str, cutoff: dt.datetime | None = None) -> RevokedEntryV1:
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15)
    return RevokedEntryV1(kind=kind, value=value, expires_at=expires, cutoff=cutoff)


async def test_revocations_are_replayed_then_followed(infra, clean_nats):
    nc = await bus.connect(infra.nats.url, "test-gateway")
    js = nc.jetstream()
    await bus.ensure_stream(js, "gateway")
    await revoke(js, entry("sid", "login-1"))                      # before the service started
    denylist = DenyList()
    follower = RevocationFollower(denylist, lambda: js, replay=3600)
    await follower.start()
    try:
        await wait_for(refuses(denylist, principal("u1", sid="login-1")), timeout=10)
        assert not denylist.refuses(principal("u1", sid="login-2"))
        await revoke(js, entry("delegation", "d-9"),                # while it runs
                     entry("subject", "client:shenzhen", cutoff=dt.datetime.fromtimestamp(2000, dt.UTC)))
        await wait_for(refuses(denylist, principal("agent", delegations=["d-1", "d-9"])), timeout=10)
        assert denylist.refuses(principal("client:shenzhen", iat=1999))
        assert not denylist.refuses(principal("client:shenzhen", iat=2001))
    finally:
        await follower.stop()
        await nc.close()


async def test_a_service_that_starts_before_the_gateway_catches_up(infra, clean_nats):
    nc = await bus.connect(infra.nats.url, "test-gateway")
    js = nc.jetstream()
    denylist = DenyList()
    follower = RevocationFollower(denylist, lambda: js, replay=3600, retry=0.1)
    await follower.start()                   # no GATEWAY stream yet
    try:
        assert not follower.following.is_set()
        await bus.ensure_stream(js, "gateway")
        await revoke(js, entry("sid", "login-3"))
        await wait_for(refuses(denylist, principal("u3", sid="login-3")), timeout=10)
        assert follower.following.is_set()
    finally:
        await follower.stop()
        await nc.close()



class PublishesAfterLooking:
    """The real JetStream context, except that the gateway publishes a revocation just after the
    follower has looked for the newest one and before its consumer exists: the window in which
    a start time taken from a clock (this process's, running weeks ahead under `make
    test-dates`, or a skewed host's) lost the revocation for good."""

    def __init__(self, js) -> None:  # noqa: ANN001
        self.js = js

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.js, name)

    async def get_last_msg(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        try:
            return await self.js.get_last_msg(*args, **kwargs)
        finally:
            await revoke(self.js, entry("sid", "login-4"))


async def test_a_revocation_published_while_the_consumer_is_made_is_not_lost(infra, clean_nats):
    nc = await bus.connect(infra.nats.url, "test-gateway")
    js = nc.jetstream()
    await bus.ensure_stream(js, "gateway")
    racing = PublishesAfterLooking(js)
    denylist = DenyList()
    follower = RevocationFollower(denylist, lambda: racing, replay=3600)
    await follower.start()
    try:
        await wait_for(refuses(denylist, principal("u4", sid="login-4")), timeout=10)
    finally:
        await follower.stop()
        await nc.close()
