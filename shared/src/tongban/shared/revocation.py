"""The deny list of revoked access tokens: what was revoked among tokens that have not yet
expired, asked on every request (a few set lookups, nothing when empty). Every gateway process
keeps one (fed from its database and `gateway.token.revoked`), and so does every service
process (`RevocationFollower`: the same events, replayed from the GATEWAY stream at start), so
a service reached other than through the gateway refuses a revoked token as well.

Three kinds of entry, each kept until every token it can refuse has expired:
- `sid`: a login (refresh-token family) ended: logout, RFC 7009 revocation, a reused refresh
  token, an account switched off. Its access tokens carry it as `sid`.
- `delegation`: a delegation revoked. An agent's tokens list theirs in `agent_for.delegations`.
- `subject`: every token of a subject issued before a cutoff (`iat` < cutoff): an account or a
  machine client switched off. The cutoff is the whole second after the revocation
  time (`iat` has whole seconds), so a token issued in the same second is refused too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from tongban.shared.contracts.gateway import TOKEN_REVOKED, TokenRevokedV1
from tongban.shared.events.bus import Listener
from tongban.shared.events.envelope import Envelope

log = logging.getLogger("tongban.revocation")
KINDS = ("sid", "delegation", "subject")


class Revocable(Protocol):
    """What the deny list reads of a verified token (the gateway's cached `Caller`, a `Principal`)."""

    @property
    def sub(self) -> str: ...
    @property
    def iat(self) -> float: ...
    @property
    def sid(self) -> str | None: ...
    @property
    def delegations(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Revoked:
    kind: str            # one of KINDS
    value: str           # the family id, delegation id or token subject
    expires_at: float    # epoch seconds: after it no token it refuses is still valid
    cutoff: float = 0.0  # subjects: tokens with iat below it are refused

    @classmethod
    def subject(cls, sub: str, at: float, expires_at: float) -> "Revoked":
        return cls("subject", sub, expires_at, float(math.floor(at) + 1))

    @classmethod
    def of(cls, entry: Any) -> "Revoked":
        """From a `RevokedEntryV1` of the event, or a row of the gateway's table (same fields)."""
        cutoff: dt.datetime | None = entry.cutoff
        return cls(entry.kind, entry.value, entry.expires_at.timestamp(), cutoff.timestamp() if cutoff else 0.0)


class DenyList:
    def __init__(self) -> None:
        self.sids: dict[str, float] = {}
        self.delegations: dict[str, float] = {}
        self.subjects: dict[str, tuple[float, float]] = {}
        self.empty = True

    def __len__(self) -> int:
        return len(self.sids) + len(self.delegations) + len(self.subjects)

    def refuses(self, caller: Revocable) -> bool:
        """True when the token was revoked (its login, a delegation it rests on, or its subject)."""
        if self.empty:
            return False
        if caller.sid is not None and caller.sid in self.sids:
            return True
        for delegation in caller.delegations:
            if delegation in self.delegations:
                return True
        cut = self.subjects.get(caller.sub)
        return cut is not None and caller.iat < cut[0]

    def add(self, entry: Revoked) -> None:
        if entry.kind == "sid":
            self.sids[entry.value] = max(entry.expires_at, self.sids.get(entry.value, 0.0))
        elif entry.kind == "delegation":
            self.delegations[entry.value] = max(entry.expires_at, self.delegations.get(entry.value, 0.0))
        elif entry.kind == "subject":
            cutoff, expires = self.subjects.get(entry.value, (0.0, 0.0))
            self.subjects[entry.value] = (max(cutoff, entry.cutoff), max(expires, entry.expires_at))
        else:
            return
        self.empty = False

    def apply(self, data: bytes) -> bool:
        """Add the entries of one `gateway.token.revoked` message; False when it was malformed."""
        entries = revoked_entries(data)
        for entry in entries or ():
            self.add(entry)
        return entries is not None

    def prune(self, now: float) -> None:
        """Forget entries whose tokens have all expired (they can refuse nothing any more)."""
        self.sids = {k: v for k, v in self.sids.items() if v > now}
        self.delegations = {k: v for k, v in self.delegations.items() if v > now}
        self.subjects = {k: v for k, v in self.subjects.items() if v[1] > now}
        self.empty = not len(self)


def revoked_entries(data: bytes) -> list[Revoked] | None:
    """The entries of one `gateway.token.revoked` message; None (and a warning) when malformed."""
    try:
        payload = TokenRevokedV1.model_validate(Envelope.model_validate_json(data).data)
    except ValidationError as exc:
        log.warning("ignoring a malformed %s event: %s", TOKEN_REVOKED, exc.errors()[:1])
        return None
    return [Revoked.of(entry) for entry in payload.entries]


class RevocationFollower(Listener):
    """Keeps a service process's deny list current from `gateway.token.revoked`.

    An ordered consumer (ephemeral, one per process: every process must see every event)
    starting `replay` seconds back, longer than any access token lives, so the revocations
    still in force are all there at start; the NATS client resumes it after a reconnect. Until
    the gateway has made its stream, the follower keeps trying in the background and the service
    serves meanwhile (with nothing revoked yet there is nothing to refuse)."""

    def __init__(self, denylist: DenyList, js: Callable[[], Any], replay: float, retry: float = 2.0,
                 prune_every: float = 60.0) -> None:
        self.denylist = denylist
        self.js = js
        self.replay = replay
        self.retry = retry
        self.prune_every = prune_every
        self.received = 0
        self.following = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="revocation-follower")

    async def _on_message(self, msg: Any) -> None:
        if self.denylist.apply(msg.data):
            self.received += 1

    async def _run(self) -> None:
        while self._sub is None:
            since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.replay)
            try:
                self._sub = await self.js().subscribe(
                    TOKEN_REVOKED, cb=self._on_message, ordered_consumer=True,
                    deliver_policy=DeliverPolicy.BY_START_TIME, config=ConsumerConfig(opt_start_time=since))
            except NotFoundError:
                log.info("no gateway stream yet: revocations are followed once the gateway has made it")
                await asyncio.sleep(self.retry)
            except Exception as exc:  # noqa: BLE001 - NATS may be briefly away; keep trying
                log.warning("cannot follow revocations yet: %s", exc)
                await asyncio.sleep(self.retry)
        self.following.set()
        while True:
            await asyncio.sleep(self.prune_every)
            self.denylist.prune(time.time())
