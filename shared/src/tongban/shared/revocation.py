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
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from tongban.shared.contracts.gateway import TOKEN_REVOKED, TokenRevokedV1
from tongban.shared.events.bus import Listener, stream_name
from tongban.shared.events.envelope import Envelope

log = logging.getLogger("tongban.revocation")
KINDS = ("sid", "delegation", "subject")
GATEWAY_STREAM = stream_name("gateway")


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


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class RevocationFollower(Listener):
    """Keeps a process's deny list current from `gateway.token.revoked`.

    Every process must see every event, so each follows with a consumer of its own: ephemeral,
    filtered to that one subject, without acks, starting `replay` seconds back (longer than any
    access token lives, so the revocations still in force are all there at start; 0: only what
    comes after). The follower remembers the stream sequence it has reached and, whenever the
    consumer is gone (a NATS restart, an outage longer than `INACTIVE`) or a fetch fails, makes a
    new one from the next sequence. nats.py's ordered consumer does the same by itself, but
    asks for the start sequence while keeping the start time (server error 10094), so it never
    recovered from a restart. Until the gateway has made its stream, the follower keeps trying
    in the background and the process serves meanwhile (nothing revoked yet: nothing to refuse).
    """

    IDLE_POLL = 1.0      # seconds a fetch waits for the next event
    CHECK_EVERY = 5      # idle polls between two checks that the consumer still exists
    INACTIVE = 60.0      # seconds after which the server drops a consumer nobody pulls from
    BATCH = 100

    def __init__(self, denylist: DenyList, js: Callable[[], Any], replay: float, retry: float = 2.0,
                 prune_every: float = 60.0) -> None:
        self.denylist = denylist
        self.js = js
        self.replay = replay
        self.retry = retry
        self.prune_every = prune_every
        self.received = 0
        self.consumers_made = 0
        self.following = asyncio.Event()
        self._next_seq: int | None = None  # the first stream sequence not yet seen

    async def start(self) -> None:
        self._spawn(self._follow(), "revocation-follower")
        self._spawn(self._prune(), "revocation-prune")

    async def _replay_from(self) -> dt.datetime | None:
        """Where replay starts, on the NATS server's clock only: `replay` seconds before the newest
        revocation (everything still in force was published within `replay` of the server's now,
        which is not earlier than that message). None when no revocation was ever published: the
        consumer then takes all, so one published while it is being made is not missed. This
        process's own clock is never used: a host that runs ahead (skew, a test run under
        faketime) would otherwise start after revocations that are still in force."""
        try:
            newest = (await self.js().get_last_msg(GATEWAY_STREAM, TOKEN_REVOKED)).time
        except NotFoundError:
            return None
        if newest is None:
            return None
        if newest.tzinfo is None:
            newest = newest.replace(tzinfo=dt.UTC)
        return newest - dt.timedelta(seconds=self.replay)

    def _config(self, since: dt.datetime | None = None) -> ConsumerConfig:
        if self._next_seq is not None:
            start = {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": self._next_seq}
        elif self.replay <= 0:
            start = {"deliver_policy": DeliverPolicy.NEW}
        elif since is not None:
            start = {"deliver_policy": DeliverPolicy.BY_START_TIME, "opt_start_time": since}
        else:
            start = {"deliver_policy": DeliverPolicy.ALL}
        return ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=self.INACTIVE, mem_storage=True,
                              **start)

    async def _subscribe(self) -> Any:
        old, self._sub = self._sub, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.unsubscribe()
        since = await self._replay_from() if self._next_seq is None and self.replay > 0 else None
        psub = await self.js().pull_subscribe(TOKEN_REVOKED, stream=GATEWAY_STREAM, config=self._config(since))
        if self._next_seq is None:
            # From here on a new consumer resumes by sequence: NEW and a start time mean nothing twice.
            info = await psub.consumer_info()
            self._next_seq = info.delivered.stream_seq + 1
        self._sub = psub
        self.consumers_made += 1
        return psub

    async def _follow(self) -> None:
        psub = None
        idle = 0
        while True:
            try:
                if psub is None:
                    psub = await self._subscribe()
                    self.following.set()
                    idle = 0
                try:
                    msgs = await psub.fetch(self.BATCH, timeout=self.IDLE_POLL)
                except TimeoutError:
                    idle += 1
                    if idle % self.CHECK_EVERY == 0:
                        await psub.consumer_info()  # NotFoundError when the server lost it
                    continue
                for msg in msgs:
                    await self._on_message(msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - sorted below
                if _being_cancelled():
                    # nats.py may turn a cancellation inside a request into its own error: stop anyway.
                    raise asyncio.CancelledError from exc
                psub = await self._recover(exc)

    async def _recover(self, exc: Exception) -> None:
        """Log why following stopped and wait before the next consumer (None: make a new one)."""
        if isinstance(exc, NotFoundError):
            if self._sub is None:
                log.info("no gateway stream yet: revocations are followed once the gateway has made it")
            else:
                log.warning("revocation consumer gone (NATS restarted?); following again from %s",
                            self._next_seq)
        else:  # NATS may be briefly away; keep trying
            log.warning("cannot follow revocations now (%s: %s); retrying", type(exc).__name__, exc)
        await asyncio.sleep(self.retry)
        return None

    async def _on_message(self, msg: Any) -> None:
        metadata = getattr(msg, "metadata", None)
        if metadata is not None:
            self._next_seq = max(self._next_seq or 0, metadata.sequence.stream + 1)
        if self.denylist.apply(msg.data):
            self.received += 1

    async def _prune(self) -> None:
        while True:
            await asyncio.sleep(self.prune_every)
            self.denylist.prune(time.time())
