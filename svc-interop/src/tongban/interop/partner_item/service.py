"""Pulls from partner cities, run by the worker every INTEROP_PARTNER_SYNC_SECONDS and by an
admin on demand: their cross-city items (kept here, shown as theirs) and their licence issuer
keys (pushed into our svc-credentials' trust list, see trust/service.py).

Each pull talks to the partner first (signed, logged), then writes in one short transaction
under a per-partner advisory lock, so replicas pulling at the same time write one after the
other. A failed pull is recorded (`partner_sync`) and changes nothing else: the last good
copy stays until a pull succeeds.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import httpx
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tongban.interop.db import audit
from tongban.interop.exchange.client import PartnerClient
from tongban.interop.partner import repository as partners
from tongban.interop.partner import urls
from tongban.interop.partner_item import repository
from tongban.interop.trust import service as trust
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.errors import AppError

log = logging.getLogger("tongban.interop.sync")
PREFIX = "/api/v1/interop"
PAGE = 200
MAX_PAGES = 50          # 10 000 items: far beyond the ~600 the two cities share; stops a runaway partner


class WireItem(BaseModel):
    item_id: uuid.UUID
    basic_code: str
    name: str
    case_type: str | None = None
    version: int


@dataclass
class Pulled:
    partner: str
    kind: str
    ok: bool
    count: int
    detail: str | None = None


async def _record(sessionmaker: async_sessionmaker[AsyncSession], outcome: Pulled, actor: Principal | str) -> None:
    now = clock.now()
    async with sessionmaker() as session, session.begin():
        await repository.record_sync(session, outcome.partner, outcome.kind, outcome.ok, outcome.count, outcome.detail,
                                     now)
        if not outcome.ok:
            return
        await audit.record(session, actor, f"partner.{outcome.kind}_synced", "partner", outcome.partner,
                           detail={"count": outcome.count, "detail": outcome.detail})


async def pull_items(sessionmaker: async_sessionmaker[AsyncSession], client: PartnerClient, region: str,
                     actor: Principal | str = "system:sync") -> Pulled:
    """Take the partner's cross-city items (every page); those it no longer lists are withdrawn."""
    items: list[WireItem] = []
    try:
        offset: int | None = 0
        for _ in range(MAX_PAGES):
            answer = await client.call(region, "GET", f"{PREFIX}/exchange/items?limit={PAGE}&offset={offset}")
            page = answer.body if isinstance(answer.body, dict) else {}
            items += [WireItem.model_validate(i) for i in page.get("items", [])]
            offset = page.get("next_offset")
            if offset is None:
                break
    except (AppError, ValidationError) as exc:
        outcome = Pulled(region, "items", False, 0, f"{type(exc).__name__}: {exc}"[:1000])
        await _record(sessionmaker, outcome, actor)
        return outcome
    now = clock.now()
    async with sessionmaker() as session, session.begin():
        await repository.lock_partner(session, region, "items")
        await repository.upsert_items(session, region, [i.model_dump() for i in items], now)
        withdrawn = await repository.withdraw_others(session, region, {i.item_id for i in items}, now)
    outcome = Pulled(region, "items", True, len(items), f"{withdrawn} withdrawn" if withdrawn else None)
    await _record(sessionmaker, outcome, actor)
    return outcome


async def pull_issuer_keys(sessionmaker: async_sessionmaker[AsyncSession], client: PartnerClient,
                           credentials: httpx.AsyncClient | None, region: str,
                           actor: Principal | str = "system:sync", own_region: str | None = None,
                           allow_private_urls: bool = False, url_bases: list[str] = ()) -> Pulled:
    """Take the partner's licence issuer keys into our svc-credentials' trust list: only keys of
    issuers registered in the partner's region (never ours), with their status (a retired key
    verifies only what it signed before), and its status-list URL only under its base URL."""
    async with sessionmaker() as session:
        partner = await partners.get(session, region)
    name = partner.name if partner else region
    notes: list[str] = []
    try:
        answer = await client.call(region, "GET", f"{PREFIX}/exchange/credential-keys")
        published = answer.body.get("keys", []) if isinstance(answer.body, dict) else []
        keys = [k for k in (trust.trusted_key(j, region, own_region) for j in published if isinstance(j, dict))
                if k is not None]
        skipped = len(published) - len(keys)
        if skipped:
            notes.append(f"{skipped} unusable keys skipped (malformed, or an issuer outside {region})")
        if published and not keys:
            raise ValueError(f"none of the {len(published)} published keys is usable")
        lists_url = trust.status_list_url(answer.body.get("status_list_url") if isinstance(answer.body, dict) else None)
        if lists_url is not None:
            try:
                bases = [partner.base_url if partner else "", *url_bases]
                await urls.check_published(lists_url.replace("{list}", "0"), bases, allow_private_urls)
            except urls.UnsafeUrl as exc:
                log.warning("status-list URL of %s refused: %s", region, exc)
                notes.append(f"status-list URL refused: {exc}")
                lists_url = None
        await trust.put_trusted(credentials, region, name, keys, lists_url)
    except (AppError, ValueError) as exc:
        outcome = Pulled(region, "issuer_keys", False, 0, f"{type(exc).__name__}: {exc}"[:1000])
        await _record(sessionmaker, outcome, actor)
        return outcome
    outcome = Pulled(region, "issuer_keys", True, len(keys), "; ".join(notes)[:1000] or None)
    await _record(sessionmaker, outcome, actor)
    return outcome


async def pull_all(sessionmaker: async_sessionmaker[AsyncSession], client: PartnerClient,
                   credentials: httpx.AsyncClient | None, own_region: str | None = None,
                   allow_private_urls: bool = False, url_bases: dict[str, list[str]] | None = None) -> list[Pulled]:
    """Every active partner, both kinds (the periodic task)."""
    async with sessionmaker() as session:
        regions = [p.region_code for p in await partners.active(session)]
    out: list[Pulled] = []
    for region in regions:
        out.append(await pull_items(sessionmaker, client, region))
        out.append(await pull_issuer_keys(sessionmaker, client, credentials, region, own_region=own_region,
                                          allow_private_urls=allow_private_urls,
                                          url_bases=(url_bases or {}).get(region, [])))
    for o in out:
        if not o.ok:
            log.warning("pull of %s from %s failed: %s", o.kind, o.partner, o.detail)
    return out
