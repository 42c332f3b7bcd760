"""Past one machine, shown on loopback: a 3-node NATS JetStream cluster with streams replicated 3
times, two replicas of svc-cases sharing one durable consumer, 10,000 events pushed through
svc-catalog's outbox relay while one NATS node and one svc-cases replica are SIGKILLed.

Run with `make test-cluster` (about a minute; it waits out one ack timeout). It prints:
events published, events handled, lost (must be 0), handled twice (must be 0).
"""

import asyncio
import time
import uuid

import pytest
from sqlalchemy import func, select

from tongban.cases.catalog_copy.models import CatalogItem
from tongban.cases.db import platform as cases_platform
from tongban.cases.main import SERVICE as CASES
from tongban.catalog.db import platform as catalog_platform
from tongban.catalog.main import SERVICE as CATALOG
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ItemPublishedV1
from tongban.shared.db import make_engine
from tongban.shared.events import bus
from tongban.shared.events.envelope import make_event
from tongban.shared.localinfra import NatsCluster, ServiceProcess, free_port
from tongban.shared.testing.plugin import service_env

pytestmark = pytest.mark.cluster
N = 10_000


def event_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        data = ItemPublishedV1(item_id=uuid.uuid4(), basic_code=f"4420{i:08d}", name=f"事项 {i}", item_type="20",
                               version=1, case_type="immediate")
        env = make_event("catalog", ITEM_PUBLISHED, data, subject=str(data.item_id))
        rows.append({"id": env.id, "subject": env.type, "envelope": env.model_dump(mode="json")})
    return rows


async def test_cluster_loses_nothing_and_handles_nothing_twice(infra, token_issuer, tmp_path):
    cluster = NatsCluster(tmp_path / "nats").start()
    procs: list[ServiceProcess] = []
    catalog_url, cases_url = infra.fresh_database(CATALOG), infra.fresh_database(CASES)
    catalog_db, cases_db = make_engine(catalog_url, 2), make_engine(cases_url, 2)

    async def scalar(engine, stmt):
        async with engine.connect() as conn:
            return (await conn.execute(stmt)).scalar()

    try:
        # JetStream needs its meta leader before streams can be made: wait until it answers.
        nc = await bus.connect(cluster.url, "cluster-test")
        deadline = time.monotonic() + 30
        while True:
            try:
                await bus.ensure_stream(nc.jetstream(), "catalog", replicas=3)
                break
            except Exception:  # noqa: BLE001 - "JetStream not ready" until the cluster has formed
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        await nc.close()

        def start(definition, url, name):
            env = service_env(definition, url, infra, token_issuer, stream_replicas=3)
            env[f"{definition.env_prefix}NATS_URL"] = cluster.url
            return ServiceProcess(name, f"tongban.{definition.name}.main:create_app", free_port(), env,
                                  log_file=tmp_path / f"{name}.log").start()

        procs = [start(CATALOG, catalog_url, "catalog"), start(CASES, cases_url, "cases-a"),
                 start(CASES, cases_url, "cases-b")]
        await asyncio.gather(*(asyncio.to_thread(p.wait_ready) for p in procs))
        catalog, cases_a, _cases_b = procs

        outbox = catalog_platform.outbox
        async with catalog_db.begin() as conn:
            for _ in range(0, N, 2000):
                await conn.execute(outbox.insert(), event_rows(2000))
            await conn.exec_driver_sql("NOTIFY tongban_outbox_catalog")
        started = time.monotonic()

        inbox = cases_platform.inbox
        killed_node = killed_replica = False
        while time.monotonic() - started < 240:
            handled = await scalar(cases_db, select(func.count()).select_from(inbox))
            if handled >= 2000 and not killed_node:
                cluster.nodes[1].kill()
                killed_node = True
            if handled >= 5000 and not killed_replica:
                cases_a.kill()
                killed_replica = True
            if handled >= N:
                break
            await asyncio.sleep(0.2)

        published = await scalar(catalog_db, select(func.count()).select_from(outbox)
                                 .where(outbox.c.published_at.is_not(None)))
        handled = await scalar(cases_db, select(func.count()).select_from(inbox))
        copies = await scalar(cases_db, select(func.count()).select_from(CatalogItem))
        twice = await scalar(cases_db, select(func.count()).where(CatalogItem.applied_events > 1))
        print(f"\n| events published | events handled | lost | handled twice | seconds |\n"
              f"| {published} | {handled} | {N - copies} | {twice} | {time.monotonic() - started:.1f} |")
        assert killed_node and killed_replica
        assert (published, handled, N - copies, twice) == (N, N, 0, 0)
    finally:
        for p in procs:
            p.stop()
        cluster.stop()
        await catalog_db.dispose()
        await cases_db.dispose()
