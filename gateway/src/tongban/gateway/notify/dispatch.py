"""The dispatcher: due deliveries out to their providers, receipts in, failures retried with a
growing back-off (and no sooner than the account's hourly limit has room: `service.requeue`) until
`max_attempts`, then failed for good (the dead letters, listed at
`/notify/deliveries?status=failed` and retried by an admin).

Each pass claims a batch with `FOR UPDATE SKIP LOCKED` (several gateway workers share the work),
marks it attempted and commits before anything leaves, so a crash never loses a delivery (the
next pass sends it again, under the same `OutId`, which the provider recognises). It is woken at
once when this process commits new deliveries due now, and otherwise looks every `poll_seconds`
(quiet hours ending, rate limits, back-offs, other processes' deliveries). Logs name the channel, the
masked number and the template, never the content.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.gateway.notify import consumers, repository
from tongban.gateway.notify.channels import Outgoing, Provider, providers
from tongban.gateway.notify.config import NotifySettings
from tongban.gateway.notify.models import Delivery
from tongban.gateway.notify.service import Notice, requeue, tell
from tongban.gateway.notify.wakeup import WAKEUP
from tongban.shared import clock
from tongban.shared.ids import mask_phone
from tongban.shared.periodic import PeriodicTask
from tongban.shared.service import BackgroundTask, Runtime

log = logging.getLogger("tongban.gateway.notify")


def _masked(channel: str, address: str) -> str:
    return mask_phone(address) if channel == "sms" else address[:8] + "…"


class Dispatcher:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: NotifySettings,
                 chosen: dict[str, Provider]) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.providers = chosen

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                busy = await self.once()
            except Exception:  # noqa: BLE001 - one failed pass must not end the dispatcher; it is logged
                log.exception("notification dispatch pass failed")
                busy = False
            if not busy:
                await WAKEUP.wait(self.settings.poll_seconds)
                # A moment for the deliveries committed meanwhile to join this pass (one batch, a
                # few commits, rather than a few commits per delivery).
                await asyncio.sleep(self.settings.gather_seconds)

    async def once(self) -> bool:
        """One pass: send what is due, then collect receipts. True if there may be more to do."""
        sent = await self._send_due()
        received = await self._collect_receipts()
        return sent >= self.settings.batch or received >= self.settings.batch

    async def _send_due(self) -> int:
        now = clock.now()
        async with self.sessionmaker() as session, session.begin():
            await relaxed(session)
            due = await repository.claim_due(session, now, self.settings.batch)
            if not due:
                return 0
            values = await repository.variables_of(session, list({d.message_id for d in due}))
            for d in due:   # attempted before it leaves: a crash from here on resends, never loses
                d.attempts += 1
                d.updated_at = now
            work = [(d.id, d.channel, d.address, d.template_id, values.get(d.message_id, {}), d.attempts)
                    for d in due]
        outcomes: dict[Any, Any] = {}
        for channel, provider in self.providers.items():
            batch = [Outgoing(did, address, template, vals) for did, ch, address, template, vals, _ in work
                     if ch == channel]
            if batch:
                try:
                    for outcome in await provider.send(batch):
                        outcomes[outcome.delivery_id] = outcome
                except Exception as exc:  # noqa: BLE001 - a provider down is a transient failure of its batch
                    log.warning("%s provider failed on a batch of %d: %r", channel, len(batch), exc)
        at = clock.now()
        async with self.sessionmaker() as session, session.begin():
            await relaxed(session)
            sent: list[Delivery] = []
            retried: list[tuple[Delivery, dt.datetime]] = []
            locked = await repository.deliveries_locked(session, [w[0] for w in work])   # one query, not one each
            for did, channel, address, template, _, attempts in work:
                d = locked.get(did)
                if d is None or d.status != "scheduled":
                    continue
                outcome = outcomes.get(did)
                d.updated_at = at
                if outcome is not None and outcome.accepted:
                    d.status, d.provider_ref, d.sent_at, d.last_error = "sent", outcome.ref, at, None
                    sent.append(d)
                    log.info("notification sent: %s to %s, template %s", channel, _masked(channel, address), template)
                    continue
                error = (outcome.error if outcome is not None else "provider unavailable") or "refused"
                d.last_error = error[:500]
                permanent = outcome is not None and not outcome.transient
                if permanent or attempts >= self.settings.max_attempts:
                    d.status = "failed"
                    log.warning("notification failed for good: %s to %s, template %s, after %d attempts: %s",
                                channel, _masked(channel, address), template, attempts, error)
                else:
                    d.deferred = "retry"
                    retried.append((d, at + dt.timedelta(seconds=self.settings.retry_seconds * 2 ** (attempts - 1))))
            if retried:   # after the back-off, and where the account's hourly limit has room
                await requeue(session, retried, self.settings)
            await self._apply_receipts(sent, at)
        return len(work)

    async def _apply_receipts(self, waiting: list[Delivery], at: dt.datetime) -> None:
        for channel, provider in self.providers.items():
            mine = [d for d in waiting if d.channel == channel and d.provider_ref]
            if not mine:
                continue
            receipts = await provider.receipts([d.provider_ref for d in mine if d.provider_ref])
            for d in mine:
                state = receipts.get(d.provider_ref or "")
                if state == "delivered":
                    d.status, d.delivered_at, d.updated_at = "delivered", at, at
                elif state == "failed":
                    d.status, d.last_error, d.updated_at = "failed", "the provider reported it undelivered", at

    async def _collect_receipts(self) -> int:
        async with self.sessionmaker() as session, session.begin():
            waiting = await repository.awaiting_receipt(session, self.settings.batch)
            if not waiting:
                return 0
            await relaxed(session)
            await self._apply_receipts(waiting, clock.now())
            return len(waiting)


async def relaxed(session: AsyncSession) -> None:
    """The dispatcher's own bookkeeping commits without waiting for the disk: losing it in a crash
    only means the delivery is sent again under the same OutId (the provider keeps one message per
    OutId), or its receipt asked again. The message itself was committed durably by the consumer."""
    await session.execute(text("SET LOCAL synchronous_commit TO off"))


async def remind_expiring_licences(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Daily (periodic): tell holders of licences ending within `licence_reminder_days`, once."""
    settings = consumers.settings()
    by = clock.today() + dt.timedelta(days=settings.licence_reminder_days)
    async with sessionmaker() as session, session.begin():
        due = await repository.licences_expiring(session, by, 500)
        notices = [Notice(w.account_id, "licence.expiring",
                          {"licence_type": w.type_code, "valid_until": w.valid_until.isoformat()},
                          f"licence.expiring:{w.licence_id}:{w.valid_until.isoformat()}") for w in due]
        for w in due:
            w.reminded_at = clock.now()
        await tell(session, notices, settings)


async def _start(state: Any, runtime: Runtime) -> None:
    settings = NotifySettings()
    consumers.configure(settings)
    state.notify_settings = settings
    WAKEUP.reset()
    chosen = providers(runtime.sessionmaker, settings.sms_provider, settings.wechat_provider,
                       frozenset(settings.local_failing_numbers))
    await Dispatcher(runtime.sessionmaker, settings, chosen).run(runtime.stop)


DISPATCHER = BackgroundTask(name="notify-dispatcher", start=_start)
LICENCE_REMINDERS = PeriodicTask(name="notify-licence-reminders", interval=3600.0, run=remind_expiring_licences)
