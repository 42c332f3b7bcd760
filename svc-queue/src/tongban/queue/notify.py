"""Live updates to every replica: a NOTIFY on one channel, delivered by PostgreSQL at commit (so
boards never show a call that was rolled back), fanned out by each replica's LiveHub."""

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CHANNEL = "queue_live"


async def notify(session: AsyncSession, hall_id: uuid.UUID, kind: str, data: dict[str, Any]) -> None:
    """Queue a live update for the hall's boards; sent when the transaction commits."""
    payload = json.dumps({"hall_id": str(hall_id), "kind": kind, **data}, ensure_ascii=False, default=str)
    await session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


async def notify_city(session: AsyncSession, kind: str) -> None:
    """Queue a city-wide update (no hall: the case and rating figures changed) for the dashboard."""
    payload = json.dumps({"hall_id": "", "kind": kind})
    await session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})
