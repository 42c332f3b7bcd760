"""The typed TypeScript client (clients/ts) against a real platform: its types are generated from
the checked-in gateway OpenAPI (openapi/platform.json), its smoke script compiles against them and
then walks a resident's journey through the gateway: log in, search the catalogue, apply for an
item approved at once, and see the licence in the wallet. Gateway, svc-catalog, svc-cases and
svc-credentials run as real processes. Node and npm are needed (.ci/run installs them); locally,
without them, the test is skipped."""

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tongban.cases.main import SERVICE as CASES
from tongban.catalog.main import SERVICE as CATALOG
from tongban.credentials.main import SERVICE as CREDENTIALS
from tongban.gateway import seed as gateway_seed
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.testing.plugin import platform_processes, wait_for

CLIENT = Path(__file__).resolve().parents[1] / "clients" / "ts"
DEPARTMENT = "11442000MB0000002B"                      # the demo approver's department (gateway seed)
LICENCE_TYPE = DEPARTMENT + "901"
ITEM = {"basic_code": "442020000931", "name": "退役军人优待证申领（客户端冒烟）", "exercise_level": 4,
        "case_type": "immediate", "implementing_body_credit_code": DEPARTMENT, "result_licence_type": LICENCE_TYPE}

pytestmark = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="node and npm are not installed (.ci/run installs them)")


def npm(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["npm", *args], cwd=CLIENT, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false",
                               "npm_config_audit": "false", **(env or {})})
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_client() -> Path:
    """`npm ci` (the lock file's exact versions; the npm cache serves them when it has them), the
    types generated from the checked-in document, and the smoke script compiled against them."""
    npm("ci", "--prefer-offline")
    npm("run", "generate")
    npm("run", "build")
    return CLIENT / "dist" / "smoke.js"


@pytest.fixture
async def platform(infra, clean_nats, tmp_path):
    """(the gateway's URL, the compiled smoke script): the client is built while the processes start."""
    building = asyncio.ensure_future(asyncio.to_thread(build_client))
    try:
        definitions = (GATEWAY, CATALOG, CASES, CREDENTIALS)
        urls = {d.name: infra.fresh_database(d) for d in definitions}
        engine = make_engine(urls["gateway"], 2)
        await gateway_seed.seed(make_sessionmaker(engine))
        await engine.dispose()
        keys = tmp_path / "keys"
        async with platform_processes(infra, list(definitions), urls, tmp_path,
                                      extra=lambda name, at: {"CREDENTIALS_KEY_DIR": str(keys)}
                                      if name == "credentials" else {}) as at:
            yield at["gateway"], await building
    finally:
        if not building.done():
            await asyncio.wait([building])


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def an_instant_item_with_a_licence(client: httpx.AsyncClient) -> None:
    """What an administrator sets up beforehand: a licence type, the item that issues it, its form
    and the rule that approves adults at once."""
    admin = await login(client, "admin", "Admin#2026")
    r = await client.post("/api/v1/credentials/licence-types", headers=admin, json={
        "code": LICENCE_TYPE, "name": "退役军人优待证", "issuer_code": DEPARTMENT, "issuer_name": "中山市退役军人事务局",
        "holder_type": "111", "validity": "years", "validity_years": 5,
        "fields": [{"name": "service_years", "type": "integer"}]})
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/catalog/items", headers=admin, json=ITEM)
    assert r.status_code == 201, r.text
    if r.json().get("status") != "published":
        r = await client.post(f"/api/v1/catalog/items/{r.json()['id']}/publish", headers=admin)
        assert r.status_code == 200, r.text

    async def copied():
        page = (await client.get("/api/v1/cases/items", params={"limit": 100})).json()
        return any(i["basic_code"] == ITEM["basic_code"] for i in page["items"])

    await wait_for(copied, timeout=20)
    code = ITEM["basic_code"]
    r = await client.put(f"/api/v1/cases/item-configs/{code}", headers=admin, json={
        "form_fields": [{"name": "service_years", "type": "integer", "required": True, "minimum": 1}]})
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/cases/item-configs/{code}/approval-rules", headers=admin,
                          json={"conditions": [{"field": "applicant.age", "op": "gte", "value": 18}]})
    assert r.status_code == 201, r.text


async def test_the_generated_client_walks_a_residents_journey(platform):
    gateway_url, smoke = platform
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, base_url=gateway_url, timeout=15) as client:
        await an_instant_item_with_a_licence(client)
    env = {"TONGBAN_URL": gateway_url, "TONGBAN_USERNAME": "citizen", "TONGBAN_PASSWORD": "Citizen#2026",
           "TONGBAN_QUERY": "优待证", "TONGBAN_ITEM": ITEM["basic_code"], "TONGBAN_FORM": '{"service_years": 8}'}
    done = await asyncio.to_thread(subprocess.run, ["node", str(smoke)], cwd=CLIENT, capture_output=True,
                                   text=True, timeout=60, env={**os.environ, **env})
    assert done.returncode == 0, f"smoke failed:\n{done.stdout}\n{done.stderr}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["item"]["basic_code"] == ITEM["basic_code"]
    assert report["case"]["applied_state"] == "approved" and report["case"]["state"] == "completed"
    assert report["licence"]["type_code"] == LICENCE_TYPE and report["licence"]["status"] == "valid"
    assert set(report["milliseconds"]) == {"login", "search", "apply", "case completed", "wallet"}
