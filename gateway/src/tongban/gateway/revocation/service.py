"""Revoking access tokens before they expire. A revocation is a row (so a process that starts
later loads it) and a `gateway.token.revoked` event in the same transaction (so every running
gateway process adds it to its deny list within milliseconds); the process that made it adds
it to its own deny list the moment the transaction commits, so the caller's next request
through this process is already refused.

The rows and the event say which tokens stop working; the change that caused them (a logout,
a revoked delegation, an account switched off) is audited by the caller."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from tongban.gateway.db import outbox
from tongban.gateway.revocation import repository
from tongban.gateway.revocation.models import TokenRevocation
from tongban.shared.contracts.gateway import TOKEN_REVOKED, RevokedEntryV1, TokenRevokedV1
from tongban.shared.events.envelope import make_event
from tongban.shared.revocation import DenyList, Revoked

CONTEXT = "tongban.gateway.revocations"
_PENDING = "tongban.gateway.revocations.pending"
# Without a configured context (scripts, seeding) entries are kept this long: past any access token's life.
DEFAULT_ACCESS_TTL = 3600
# Clocks of replicas differ a little; an entry outlives the tokens it refuses by this much.
SKEW_SECONDS = 60


@dataclass(frozen=True)
class RevocationContext:
    """This process's deny list and the access tokens' lifetime, carried by every session."""

    denylist: DenyList
    access_ttl: int


def configure(sessionmaker: async_sessionmaker[AsyncSession], denylist: DenyList, access_ttl: int) -> None:
    """Give every session of this process the deny list to update when a revocation commits."""
    sessionmaker.configure(info={CONTEXT: RevocationContext(denylist, access_ttl)})


def _apply_after_commit(session: AsyncSession, entries: list[Revoked]) -> None:
    context: RevocationContext | None = session.info.get(CONTEXT)
    if context is None:
        return
    pending: list[Revoked] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []

        def committed(sync_session: Session) -> None:
            for entry in session.info.pop(_PENDING, []):
                context.denylist.add(entry)

        event.listen(session.sync_session, "after_commit", committed, once=True)
    pending.extend(entries)


async def revoke(session: AsyncSession, entries: Iterable[tuple[str, str]], reason: str) -> int:
    """Revoke the tokens named by `(kind, value)` pairs (kinds: sid, delegation, subject) in the
    caller's transaction; returns how many entries were recorded."""
    context: RevocationContext | None = session.info.get(CONTEXT)
    ttl = context.access_ttl if context is not None else DEFAULT_ACCESS_TTL
    now = dt.datetime.now(dt.UTC)
    expires_at = now + dt.timedelta(seconds=ttl + SKEW_SECONDS)
    rows = []
    for kind, value in dict.fromkeys(entries):
        entry = (Revoked.subject(value, now.timestamp(), expires_at.timestamp()) if kind == "subject"
                 else Revoked(kind, value, expires_at.timestamp()))
        rows.append(TokenRevocation(
            id=uuid.uuid4(), kind=kind, value=value, expires_at=expires_at, reason=reason[:200],
            cutoff=dt.datetime.fromtimestamp(entry.cutoff, dt.UTC) if kind == "subject" else None))
    if not rows:
        return 0
    await repository.add_all(session, rows)
    entries = [RevokedEntryV1.model_validate({"kind": r.kind, "value": r.value, "expires_at": r.expires_at,
                                              "cutoff": r.cutoff}) for r in rows]
    payload = TokenRevokedV1(entries=entries, reason=reason[:200])
    await outbox.add(session, make_event("gateway", TOKEN_REVOKED, payload, subject=rows[0].value))
    _apply_after_commit(session, [Revoked.of(r) for r in rows])
    return len(rows)


async def revoke_logins(session: AsyncSession, family_ids: Iterable[uuid.UUID | str], reason: str) -> int:
    """The access tokens of these logins (refresh-token families) stop working."""
    return await revoke(session, (("sid", str(f)) for f in family_ids), reason)


async def revoke_delegation(session: AsyncSession, delegation_id: uuid.UUID, reason: str) -> int:
    """Access tokens whose `agent_for` rests on this delegation stop working."""
    return await revoke(session, [("delegation", str(delegation_id))], reason)


async def revoke_subject(session: AsyncSession, sub: str, reason: str) -> int:
    """Every access token of this subject issued until now stops working."""
    return await revoke(session, [("subject", sub)], reason)


async def load_live(sessionmaker: async_sessionmaker[AsyncSession], denylist: DenyList,
                    since: dt.datetime | None = None) -> int:
    """Add the revocations still in force (recorded after `since`, if given) to the deny list."""
    async with sessionmaker() as session:
        rows = await repository.live(session, dt.datetime.now(dt.UTC), since)
    for row in rows:
        denylist.add(Revoked.of(row))
    return len(rows)
