"""Past one machine, shown on loopback: a 3-node NATS JetStream cluster with streams replicated 3
times, two replicas each of svc-cases and svc-credentials (each pair sharing one durable
consumer), 10,000 events pushed through the outbox relays (6,000 `catalog.item.published` into
svc-cases' read copy, 4,000 `cases.case.approved` from svc-cases' outbox, each becoming one
licence in svc-credentials) while one NATS node, one svc-cases replica and one svc-credentials
replica are SIGKILLed.

Every node runs the platform's NATS authorization; each service connects as itself.

Run with `make test-cluster` (about a minute; it waits out one ack timeout). It prints:
events published, events handled, lost (must be 0), handled twice (must be 0).
"""

import asyncio
import datetime as dt
import time
import uuid

import httpx

import pytest
from sqlalchemy import func, select

from tongban.cases.catalog_copy.models import CatalogItem
from tongban.cases.db import platform as cases_platform
from tongban.cases.main import SERVICE as CASES
from tongban.catalog.db import platform as catalog_platform
from tongban.catalog.main import SERVICE as CATALOG
from tongban.credentials.db import platform as credentials_platform
from tongban.credentials.licence.models import Licence
from tongban.credentials.main import SERVICE as CREDENTIALS
from tongban.shared.contracts.cases import CASE_APPROVED, CaseApprovedV1
from tongban.shared.contracts.catalog import ITEM_PUBLISHED, ItemPublishedV1
from tongban.shared.db import make_engine
from tongban.shared.events import bus
from tongban.shared.events.outbox import LEASE_SECONDS
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import credit_code_check_char, resident_id_check_digit
from tongban.shared.localinfra import NatsCluster, ServiceProcess, free_port
from tongban.shared.testing.plugin import service_env, wait_for

def credit_code_check(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


pytestmark = pytest.mark.cluster
N_ITEMS, N_CASES = 6_000, 4_000
DEPT = credit_code_check("11442000007234512")
TYPE_CODE = DEPT + "001"
HOLDER = "44200019900101123" + resident_id_check_digit("44200019900101123")


def item_rows(start: int, n: int) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        data = ItemPublishedV1(item_id=uuid.uuid4(), basic_code=f"4420{i:08d}", name=f"事项 {i}", item_type="20",
                               version=1, case_type="immediate")
        rows.append(_row(make_event("catalog", ITEM_PUBLISHED, data, subject=str(data.item_id))))
    return rows


def case_rows(start: int, n: int) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        data = CaseApprovedV1(
            case_id=uuid.uuid4(), case_number=f"44200020261122{i:05d}", item_basic_code="440100002000",
            applicant_type="person", applicant_id=HOLDER, applicant_name="张三", result_licence_type_code=TYPE_CODE,
            department=DEPT, approved_at=dt.datetime.now(dt.UTC), data={"business_scope": f"经营范围 {i}"})
        rows.append(_row(make_event("cases", CASE_APPROVED, data, subject=str(data.case_id))))
    return rows


def _row(env) -> dict:  # noqa: ANN001
    return {"id": env.id, "subject": env.type, "envelope": env.model_dump(mode="json")}


async def test_cluster_loses_nothing_and_handles_nothing_twice(infra, token_issuer, tmp_path):
    # The platform's authorization on every node: the services connect as themselves, this test as
    # the session's helper identity (cluster.url carries it).
    cluster = NatsCluster(tmp_path / "nats", authorization=infra.nats_authorization, client=infra.nats.client).start()
    procs: list[ServiceProcess] = []
    urls = {d.name: infra.fresh_database(d) for d in (CATALOG, CASES, CREDENTIALS)}
    dbs = {name: make_engine(url, 2) for name, url in urls.items()}

    async def scalar(name, stmt):
        async with dbs[name].connect() as conn:
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

        def start(definition, name):
            env = service_env(definition, urls[definition.name], infra, token_issuer, stream_replicas=3)
            env[f"{definition.env_prefix}NATS_URL"] = cluster.address
            if definition is CREDENTIALS:
                env["CREDENTIALS_KEY_DIR"] = str(tmp_path / "keys")
            return ServiceProcess(name, f"tongban.{definition.name}.main:create_app", free_port(), env,
                                  log_file=tmp_path / f"{name}.log").start()

        procs = [start(CATALOG, "catalog"), start(CASES, "cases-a"), start(CASES, "cases-b"),
                 start(CREDENTIALS, "credentials-a"), start(CREDENTIALS, "credentials-b")]
        await asyncio.gather(*(asyncio.to_thread(p.wait_ready) for p in procs))
        _, cases_a, _, credentials_a, credentials_b = procs

        admin = {"Authorization": "Bearer " + token_issuer.mint("admin", "credentials:admin", ["credentials"])}
        async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=credentials_b.url) as client:
            r = await client.post("/api/v1/credentials/licence-types", headers=admin, json={
                "code": TYPE_CODE, "name": "食品经营许可证", "issuer_code": DEPT, "issuer_name": "中山市市场监督管理局",
                "holder_type": "111", "validity": "years", "validity_years": 5,
                "fields": [{"name": "business_scope", "type": "string", "max_length": 200}]})
            assert r.status_code == 201, r.text

        for name, rows_of, n in (("catalog", item_rows, N_ITEMS), ("cases", case_rows, N_CASES)):
            table = {"catalog": catalog_platform, "cases": cases_platform}[name].outbox
            async with dbs[name].begin() as conn:
                for start_at in range(0, n, 2000):
                    await conn.execute(table.insert(), rows_of(start_at, min(2000, n - start_at)))
                await conn.exec_driver_sql(f"NOTIFY tongban_outbox_{name}")
        started = time.monotonic()

        async def handled() -> tuple[int, int]:
            ci, ki = cases_platform.inbox, credentials_platform.inbox
            return (await scalar("cases", select(func.count()).where(ci.c.consumer == "cases-catalog-item")),
                    await scalar("credentials", select(func.count()).where(ki.c.consumer == "credentials-cases-case")))

        killed = set()
        while time.monotonic() - started < 240:
            items, cases = await handled()
            if items + cases >= 2000 and "nats" not in killed:
                cluster.nodes[1].kill()
                killed.add("nats")
            if items >= N_ITEMS // 2 and "cases" not in killed:
                cases_a.kill()
                killed.add("cases")
            if cases >= N_CASES // 2 and "credentials" not in killed:
                credentials_a.kill()
                killed.add("credentials")
            if items >= N_ITEMS and cases >= N_CASES:
                break
            await asyncio.sleep(0.2)
        seconds = time.monotonic() - started

        async def published_count() -> int:
            # The events this test pushed: a service may add its own meanwhile (svc-cases says
            # `cases.calendar.next_year_missing` in December while next year's holidays are unknown).
            n = 0
            for name, plat, subject in (("catalog", catalog_platform, ITEM_PUBLISHED),
                                        ("cases", cases_platform, CASE_APPROVED)):
                n += await scalar(name, select(func.count()).select_from(plat.outbox)
                                  .where(plat.outbox.c.published_at.is_not(None), plat.outbox.c.subject == subject))
            return n

        async def all_marked() -> int:
            # A pass's rows are marked by the next claim or within MARK_DEFER; rows a killed relay
            # left leased and unmarked go again when their lease runs out (LEASE_SECONDS).
            n = await published_count()
            return n if n >= N_ITEMS + N_CASES else 0
        published = await wait_for(all_marked, timeout=LEASE_SECONDS + 15)
        items, cases = await handled()
        copies = await scalar("cases", select(func.count()).select_from(CatalogItem))
        licences = await scalar("credentials", select(func.count(func.distinct(Licence.source_case_id))))
        twice = (await scalar("cases", select(func.count()).where(CatalogItem.applied_events > 1))
                 + await scalar("credentials", select(func.count()).select_from(Licence)) - licences)
        dead = (await scalar("cases", select(func.count()).select_from(cases_platform.dead_letter))
                + await scalar("credentials", select(func.count()).select_from(credentials_platform.dead_letter)))
        lost = (N_ITEMS - copies) + (N_CASES - licences)
        print("\n| events published | events handled | lost | handled twice | dead letters | seconds |\n"
              f"| {published} | {items + cases} | {lost} | {twice} | {dead} | {seconds:.1f} |")
        assert killed == {"nats", "cases", "credentials"}
        assert (published, items + cases, lost, twice, dead) == (N_ITEMS + N_CASES, N_ITEMS + N_CASES, 0, 0, 0)
    finally:
        for p in procs:
            p.stop()
        cluster.stop()
        for engine in dbs.values():
            await engine.dispose()
