"""The thin slice end to end, as a client would drive it: log in at the gateway with a demo
account, publish a catalogue item through the gateway, and find it in svc-cases' read copy,
also through the gateway. Every process is real: gateway, svc-catalog and svc-cases under
uvicorn, the services verifying the gateway's tokens against its JWKS."""

from dataclasses import dataclass

import httpx
import pytest

from tongban.cases.main import SERVICE as CASES
from tongban.catalog.main import SERVICE as CATALOG
from tongban.gateway import seed as gateway_seed
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.testing.plugin import platform_processes, wait_for

ITEM = {"basic_code": "442020000777", "name": "老年人优待证办理", "exercise_level": 4, "case_type": "immediate"}


@dataclass
class Platform:
    client: httpx.AsyncClient      # through the gateway
    urls: dict[str, str]           # each process directly, as a caller inside the network could


@pytest.fixture
async def platform(infra, clean_nats, tmp_path):
    urls = {d.name: infra.fresh_database(d) for d in (GATEWAY, CATALOG, CASES)}
    engine = make_engine(urls["gateway"], 2)
    await gateway_seed.seed(make_sessionmaker(engine))
    await engine.dispose()
    async with platform_processes(infra, [GATEWAY, CATALOG, CASES], urls, tmp_path) as at:
        async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=at["gateway"], timeout=10) as client:
            yield Platform(client, at)


async def login(client, username, password):
    r = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_admin_publishes_an_item_and_cases_learns_it(platform):
    client = platform.client
    admin = await login(client, "admin", "Admin#2026")
    r = await client.post("/api/v1/catalog/items", json=ITEM, headers={**admin, "Idempotency-Key": "slice-1"})
    assert r.status_code == 201, r.text
    item_id = r.json()["id"]
    again = await client.post("/api/v1/catalog/items", json=ITEM, headers={**admin, "Idempotency-Key": "slice-1"})
    assert again.status_code == 201 and again.json()["id"] == item_id

    async def copied():
        page = (await client.get("/api/v1/cases/items")).json()
        return [i for i in page["items"] if i["item_id"] == item_id]

    [copy] = await wait_for(copied, timeout=20)
    assert copy["basic_code"] == ITEM["basic_code"] and copy["name"] == ITEM["name"]
    assert (await client.get(f"/api/v1/catalog/items/{item_id}")).status_code == 200  # public, no token


async def test_the_gateway_and_the_services_refuse_what_they_must(platform):
    client = platform.client
    r = await client.post("/api/v1/catalog/items", json=ITEM)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    citizen = await login(client, "citizen", "Citizen#2026")
    r = await client.post("/api/v1/catalog/items", json=ITEM, headers=citizen)
    assert r.status_code == 403 and r.json()["code"] == "not_permitted"  # svc-catalog policy: editing is for admins
    r = await client.post("/api/v1/catalog/items", json=ITEM, headers={"Authorization": "Bearer forged.token.x"})
    assert r.status_code == 401
    admin = await login(client, "admin", "Admin#2026")
    r = await client.post("/api/v1/catalog/items", content=b'{"basic_code":', headers={
        **admin, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"  # the service's problem, passed through
    r = await client.post("/api/v1/catalog/items", json={**ITEM, "basic_code": "4420200007"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "basic_code"
    assert (await client.get("/api/v1/nowhere/items")).status_code == 404


async def test_a_service_reached_directly_refuses_a_token_revoked_at_the_gateway(platform):
    """Defence in depth: the services refuse a revoked access token themselves (each process
    follows `gateway.token.revoked`), not only the gateway at the door."""
    citizen = await login(platform.client, "citizen", "Citizen#2026")
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=platform.urls["cases"], timeout=10) as direct:
        assert (await direct.get("/api/v1/cases/cases", headers=citizen)).status_code == 200
        assert (await platform.client.post("/auth/logout", headers=citizen)).status_code == 204

        async def refused():
            r = await direct.get("/api/v1/cases/cases", headers=citizen)
            return r if r.status_code == 401 else None

        r = await wait_for(refused, timeout=10)
        assert r.json()["code"] == "token_revoked" and r.headers["content-type"] == "application/problem+json"
        # A new login works at once, directly too.
        again = await login(platform.client, "citizen", "Citizen#2026")
        assert (await direct.get("/api/v1/cases/cases", headers=again)).status_code == 200
