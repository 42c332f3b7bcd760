"""Live updates to every replica: a NOTIFY on one channel, sent right after the transaction commits
(`db.notify_after_commit`: so boards never show a call that was rolled back, and the commit does
not wait for PostgreSQL's notify lock), fanned out by each replica's LiveHub."""

import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.shared.db import notify_after_commit

CHANNEL = "queue_live"


async def notify(session: AsyncSession, hall_id: uuid.UUID, kind: str, data: dict[str, Any]) -> None:
    """Queue a live update for the hall's boards; sent when the transaction commits."""
    payload = json.dumps({"hall_id": str(hall_id), "kind": kind, **data}, ensure_ascii=False, default=str)
    await notify_after_commit(session, CHANNEL, payload)


async def notify_city(session: AsyncSession, kind: str) -> None:
    """Queue a city-wide update (no hall: the case and rating figures changed) for the dashboard."""
    payload = json.dumps({"hall_id": "", "kind": kind})
    await notify_after_commit(session, CHANNEL, payload)
