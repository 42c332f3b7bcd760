"""The periodic payment follower (run by the worker every INTERVAL seconds), for what no request
waits on: unpaid orders past their expiry expire; refunds owed are sent to the provider and its
signed answer applied; an order a payer started whose callback has not come within QUERY_AFTER is
asked about (the answer is verified like a callback, so a lost callback and a late one end the
same way, once); yesterday's statements are reconciled once per provider."""

from __future__ import annotations

import datetime as dt
import logging
import os

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tongban.cases.payment import client, config, service
from tongban.cases.payment import repository as repo
from tongban.cases.payment.errors import CallbackRefused, ProviderUnavailable
from tongban.shared import clock

log = logging.getLogger("tongban.cases.payment")
# Seconds between passes (CASES_PAYMENT_FOLLOWER_SECONDS): refunds and lost callbacks are minutes-scale business.
INTERVAL = float(os.environ.get("CASES_PAYMENT_FOLLOWER_SECONDS", "5"))
ACTOR = "system:payment-follower"
_RECONCILE_LOCK = 7_202_611_221


def query_after() -> dt.timedelta:
    """How long a callback may take before the provider is asked (CASES_PAYMENT_QUERY_AFTER_SECONDS)."""
    return dt.timedelta(seconds=float(os.environ.get("CASES_PAYMENT_QUERY_AFTER_SECONDS", "60")))


async def _expire(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        for order in await repo.expired(session, clock.now()):
            await service.expire(session, order)


async def _refunds(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        for order in await repo.refunds_due(session):
            assert order.provider is not None and order.refund_number is not None
            try:
                notice = await client.refund(order.provider, order.order_number, order.refund_number, order.amount_fen)
                async with session.begin_nested():
                    await service.apply_notice(session, notice, "refund", client.adapter(order.provider).merchant)
            except (ProviderUnavailable, CallbackRefused) as exc:
                log.warning("refund of %s not confirmed yet: %s", order.order_number, exc.detail)


async def _queries(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        for order in await repo.to_query(session, clock.now() - query_after()):
            assert order.provider is not None
            order.last_queried_at = clock.now()
            try:
                notice = await client.query(order.provider, order.order_number)
                if notice is not None:
                    async with session.begin_nested():
                        await service.apply_notice(session, notice, "query", client.adapter(order.provider).merchant)
            except (ProviderUnavailable, CallbackRefused) as exc:
                log.warning("query of %s failed: %s", order.order_number, exc.detail)


async def _reconcile(sessions: async_sessionmaker[AsyncSession]) -> None:
    yesterday = clock.today() - dt.timedelta(days=1)
    for provider in config.load().adapters:
        async with sessions() as session, session.begin():
            if not (await session.execute(select(func.pg_try_advisory_xact_lock(_RECONCILE_LOCK)))).scalar():
                return
            if await repo.reconciliation_done(session, provider, yesterday):
                continue
            try:
                lines = await client.statement(provider, yesterday)
            except ProviderUnavailable as exc:
                log.warning("no %s statement for %s yet: %s", provider, yesterday, exc.detail)
                continue
            await service.reconcile(session, provider, yesterday, lines, ACTOR)


async def run(sessions: async_sessionmaker[AsyncSession]) -> None:
    """One pass, each part in its own transaction(s)."""
    await _expire(sessions)
    if config.load().base_url is None:
        return
    await _refunds(sessions)
    await _queries(sessions)
    await _reconcile(sessions)
