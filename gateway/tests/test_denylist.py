"""The deny list's rules, without a server: which tokens an entry refuses, and for how long."""

from types import SimpleNamespace

from tongban.gateway.proxy.callers import Caller
from tongban.shared.revocation import DenyList, Revoked
from tongban.gateway.revocation.feed import DenyListFeed


def caller(sub: str = "u1", iat: float = 1000.0, sid: str | None = "s1", delegations: tuple[str, ...] = ()) -> Caller:
    return Caller(sub=sub, role="citizen", iat=iat, sid=sid, delegations=delegations, expires=iat + 600, epoch=1)


def test_an_empty_list_refuses_nothing_and_each_kind_refuses_only_its_tokens():
    deny = DenyList()
    assert deny.empty and not deny.refuses(caller())
    deny.add(Revoked("sid", "s1", expires_at=2000.0))
    deny.add(Revoked("delegation", "d2", expires_at=2000.0))
    assert deny.refuses(caller(sid="s1"))
    assert not deny.refuses(caller(sid="s9"))
    assert deny.refuses(caller(sid=None, delegations=("d1", "d2")))
    assert not deny.refuses(caller(sid=None, delegations=("d1",)))


def test_a_subject_cutoff_refuses_tokens_issued_up_to_the_second_of_the_revocation():
    deny = DenyList()
    deny.add(Revoked.subject("client:shenzhen", at=1000.4, expires_at=2000.0))
    assert deny.refuses(caller(sub="client:shenzhen", iat=999.0, sid=None))
    assert deny.refuses(caller(sub="client:shenzhen", iat=1000.0, sid=None))  # same second: iat is whole
    assert not deny.refuses(caller(sub="client:shenzhen", iat=1001.0, sid=None))
    assert not deny.refuses(caller(sub="client:other", iat=999.0, sid=None))
    deny.add(Revoked.subject("client:shenzhen", at=1500.0, expires_at=2500.0))  # a later one moves the cutoff
    assert deny.refuses(caller(sub="client:shenzhen", iat=1200.0, sid=None))


def test_entries_are_forgotten_once_every_token_they_refuse_has_expired():
    deny = DenyList()
    deny.add(Revoked("sid", "old", expires_at=100.0))
    deny.add(Revoked("sid", "new", expires_at=300.0))
    deny.add(Revoked.subject("u1", at=50.0, expires_at=100.0))
    deny.prune(now=200.0)
    assert len(deny) == 1 and deny.refuses(caller(sid="new")) and not deny.refuses(caller(sid="old", iat=10.0))
    deny.prune(now=400.0)
    assert deny.empty


async def test_the_feed_applies_events_and_ignores_malformed_ones():
    deny = DenyList()
    feed = DenyListFeed(deny, sessionmaker=None, js=lambda: None)  # type: ignore[arg-type]
    await feed._on_message(SimpleNamespace(data=b'{"not": "an envelope"}'))
    assert deny.empty and feed.received == 0
    envelope = (b'{"source": "tongban/gateway", "type": "gateway.token.revoked", "data": {"reason": "login ended",'
                b' "entries": [{"kind": "sid", "value": "s1", "expires_at": "2999-01-01T00:00:00Z"}]}}')
    await feed._on_message(SimpleNamespace(data=envelope))
    assert feed.received == 1 and deny.refuses(caller(sid="s1"))
