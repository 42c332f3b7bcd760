"""The outside channels behind one interface each, and their local stand-ins.

A provider takes a batch of `Outgoing` (one delivery each) and answers, per delivery, accepted
(with the provider's reference) or refused (transient or permanent, with the provider's code);
later it reports delivery receipts (状态报告) for references it accepted. Real adapters (阿里云 /
腾讯云 SMS, WeChat's `subscribeMessage.send`) would live beside these; the local ones record what
would have been sent in `notify_sink` (their own transaction: they stand for the outside world)
and behave as the real ones do where it matters: a reference per accepted message, the delivery
id as the caller's `OutId` (a resend after a crash is recognised, not sent twice), throttling
answered with a transient error, receipts asked for separately.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.gateway.notify.models import SinkRecord
from tongban.gateway.notify.templates import BOOK, TemplateBook
from tongban.shared import clock


@dataclass(frozen=True)
class Outgoing:
    delivery_id: uuid.UUID
    address: str                 # mobile number, or the WeChat recipient
    template_id: str
    variables: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    delivery_id: uuid.UUID
    accepted: bool
    ref: str | None = None
    error: str | None = None
    transient: bool = False


class Provider(Protocol):
    channel: str

    async def send(self, batch: list[Outgoing]) -> list[Outcome]:
        """Hand a batch to the provider; one outcome per message, in any order."""

    async def receipts(self, refs: list[str]) -> dict[str, str]:
        """Delivery receipts known for these references: "delivered" or "failed"."""


class LocalProvider:
    """The local simulator of one channel: records into `notify_sink` what would have been sent."""

    def __init__(self, channel: str, sessionmaker: async_sessionmaker[AsyncSession], book: TemplateBook = BOOK,
                 failing: frozenset[str] = frozenset()) -> None:
        self.channel = channel
        self.sessionmaker = sessionmaker
        self.book = book
        self.failing = failing

    def render(self, out: Outgoing) -> str:
        if self.channel == "sms":
            return self.book.sms[out.template_id].render(out.variables)
        data = self.book.wechat[out.template_id].render(out.variables)
        return json.dumps({"touser": out.address, "template_id": out.template_id, "data": data}, ensure_ascii=False)

    async def send(self, batch: list[Outgoing]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        rows: list[dict[str, Any]] = []
        at = clock.now()
        for out in batch:
            if out.address in self.failing:
                outcomes.append(Outcome(out.delivery_id, False, error="isv.BUSINESS_LIMIT_CONTROL", transient=True))
                continue
            ref = f"local-{self.channel}-{out.delivery_id}"   # OutId: the same delivery is one message
            rows.append({"channel": self.channel, "address": out.address, "template_id": out.template_id,
                         "variables": out.variables, "content": self.render(out), "provider_ref": ref,
                         "delivery_id": out.delivery_id, "at": at})
            outcomes.append(Outcome(out.delivery_id, True, ref=ref))
        if rows:
            async with self.sessionmaker() as session, session.begin():
                await session.execute(insert(SinkRecord).values(rows).on_conflict_do_nothing(
                    index_elements=["provider_ref"]))
        return outcomes

    async def receipts(self, refs: list[str]) -> dict[str, str]:
        if not refs:
            return {}
        async with self.sessionmaker() as session:
            known = (await session.execute(select(SinkRecord.provider_ref)
                                           .where(SinkRecord.provider_ref.in_(refs)))).scalars().all()
        return {ref: "delivered" for ref in known}


def providers(sessionmaker: async_sessionmaker[AsyncSession], sms: str, wechat: str,
              failing: frozenset[str] = frozenset()) -> dict[str, Provider]:
    """The configured provider of each outside channel (only the local ones are built in here)."""
    chosen: dict[str, Provider] = {}
    for channel, name in (("sms", sms), ("wechat", wechat)):
        if name != "local":
            raise ValueError(f"no {channel} provider adapter named {name!r} is installed")
        chosen[channel] = LocalProvider(channel, sessionmaker, failing=failing if channel == "sms" else frozenset())
    return chosen
