"""The spine under real crashes: svc-catalog publishes items through its outbox while svc-cases,
consuming them into its read copy, is killed with SIGKILL and restarted, and the NATS server
itself is killed and restarted. Afterwards every event has been applied exactly once."""

import asyncio

import httpx
from sqlalchemy import func, select, text

from tongban.cases.catalog_copy.models import CatalogItem
from tongban.cases.db import platform as cases_platform
from tongban.cases.main import SERVICE as CASES
from tongban.catalog.db import platform as catalog_platform
from tongban.catalog.main import SERVICE as CATALOG
from tongban.shared.db import make_engine
from tongban.shared.events.outbox import LEASE_SECONDS
from tongban.shared.localinfra import ServiceProcess, free_port
from tongban.shared.testing.plugin import service_env, wait_for

N = 200


def start(definition, url, infra, issuer, tmp_path) -> ServiceProcess:
    env = service_env(definition, url, infra, issuer)
    proc = ServiceProcess(definition.name, f"tongban.{definition.name}.main:create_app", free_port(), env,
                          log_file=tmp_path / f"{definition.name}.log")
    return proc.start()


async def test_no_event_lost_or_applied_twice_across_kills(infra, token_issuer, clean_nats, tmp_path):
    catalog_url, cases_url = infra.fresh_database(CATALOG), infra.fresh_database(CASES)
    catalog = start(CATALOG, catalog_url, infra, token_issuer, tmp_path)
    cases = start(CASES, cases_url, infra, token_issuer, tmp_path)
    await asyncio.gather(asyncio.to_thread(catalog.wait_ready), asyncio.to_thread(cases.wait_ready))
    admin = {"Authorization": "Bearer " + token_issuer.mint("admin", "catalog:write", ["catalog"])}
    cases_db, catalog_db = make_engine(cases_url, 2), make_engine(catalog_url, 2)

    async def scalar(engine, stmt):
        async with engine.connect() as conn:
            return (await conn.execute(stmt)).scalar()

    try:
        async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=catalog.url, timeout=10) as client:
            for i in range(N):
                body = {"basic_code": f"4420{i // 1000:01d}{i:07d}", "name": f"事项 {i}", "exercise_level": 4,
                        "case_type": "immediate"}
                r = await client.post("/api/v1/catalog/items", json=body, headers=admin)
                assert r.status_code == 201, r.text
                if i == 50:
                    cases.kill()                       # consumer dies mid-stream
                elif i == 90:
                    cases.start()                      # and comes back
                    await asyncio.to_thread(cases.wait_ready)
                elif i == 130:
                    infra.nats.restart()               # the NATS server itself crashes (SIGKILL) and restarts

        copies = await wait_for(
            lambda: _at_least(scalar(cases_db, select(func.count()).select_from(CatalogItem)), N), timeout=90)
        outbox = catalog_platform.outbox

        async def none_unpublished() -> bool:
            # The relay marks a pass's rows with its next claim or within MARK_DEFER; a row left leased
            # and unmarked by a relay that died goes again when its lease runs out (LEASE_SECONDS).
            return await scalar(catalog_db, select(func.count()).select_from(outbox)
                                .where(outbox.c.published_at.is_(None))) == 0
        await wait_for(none_unpublished, timeout=LEASE_SECONDS + 15)
        unpublished = 0
        handled = await scalar(cases_db, select(func.count()).select_from(cases_platform.inbox))
        twice = await scalar(cases_db, select(func.count()).where(CatalogItem.applied_events > 1))
        dead = await scalar(cases_db, select(func.count()).select_from(cases_platform.dead_letter))
        print(f"\npublished {N}, handled {handled}, copies {copies}, lost {N - copies}, "
              f"handled twice {twice}, dead letters {dead}")
        assert (copies, handled, twice, dead, unpublished) == (N, N, 0, 0, 0)
        assert await scalar(cases_db, text("SELECT count(DISTINCT basic_code) FROM cases.catalog_item")) == N
    finally:
        catalog.stop()
        cases.stop()
        await cases_db.dispose()
        await catalog_db.dispose()


async def _at_least(awaitable, n):
    value = await awaitable
    return value if value >= n else None
