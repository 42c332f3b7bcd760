"""Two cities on one machine (深中通办), as `make run-two-cities` starts them: Zhongshan and
Shenzhen, each with its own databases, NATS, services and gateway, paired by the launcher. The
story is driven only through the two gateways, as the mini-programs, the halls and the
approvers would drive it:

a Shenzhen resident applies in Shenzhen for a Zhongshan item -> Zhongshan approves -> the licence
is issued in Zhongshan -> the applicant sees it through Shenzhen -> a Shenzhen clerk verifies it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tongban.shared.localinfra import NatsProcess
from tongban.shared.testing.plugin import wait_for

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("tongban_launcher", ROOT / "deploy" / "local" / "run.py")
launcher = importlib.util.module_from_spec(_spec)
sys.modules["tongban_launcher"] = launcher  # dataclasses look their module up
_spec.loader.exec_module(launcher)

SZ_RESIDENT = "440304199203154318"  # synthetic, valid GB 11643 check digit (Futian, Shenzhen)


def _free_block(size: int = 6) -> int:
    """A base port with `size` free ports above it."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + size >= 65000:
            continue
        ok = True
        for port in range(base, base + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free block of ports")


@pytest.fixture(scope="module")
def cities(infra, tmp_path_factory):
    data = tmp_path_factory.mktemp("two-cities")
    zs = launcher.City("zhongshan", "442000", "中山市", _free_block(), "t2c_zs_", data / "zs")
    sz = launcher.City("shenzhen", "440300", "深圳市", _free_block(), "t2c_sz_", data / "sz")
    server = infra.pg.url_for("postgres")
    nats = [NatsProcess(data / f"nats-{c.key}", log_file=data / f"nats-{c.key}.log").start() for c in (zs, sz)]
    procs = []
    try:
        prepared = {c.key: launcher.prepare(c, server, [o for o in (zs, sz) if o is not c]) for c in (zs, sz)}
        for city, other, n in ((zs, sz, nats[0]), (sz, zs, nats[1])):
            urls, clients, _ = prepared[city.key]
            ours_there = {other.region: prepared[other.key][2][city.key]}
            procs += launcher.start(city, urls, n.url, clients, ours_there, log_dir=data)
        for proc in procs:
            proc.wait_ready(timeout=120)
        asyncio.run(launcher.pair(zs, sz))
        yield zs, sz
    except BaseException:
        for log in sorted(data.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        raise
    finally:
        for proc in procs:
            proc.stop()
        for n in nats:
            n.stop()


class Gateway:
    """One city's gateway as an outside caller sees it."""

    def __init__(self, city, http: httpx.AsyncClient) -> None:
        self.city, self.http = city, http

    async def login(self, username: str, password: str) -> dict:
        r = await self.http.post(f"{self.city.gateway_url}/auth/token", data={
            "grant_type": "password", "username": username, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def call(self, method: str, path: str, headers: dict | None = None, **kw) -> httpx.Response:
        return await self.http.request(method, f"{self.city.gateway_url}{path}", headers=headers, **kw)

    async def account(self, admin: dict, **body) -> dict:
        r = await self.call("POST", "/auth/accounts", {**admin, "Idempotency-Key": str(uuid.uuid4())}, json=body)
        assert r.status_code == 201, r.text
        return await self.login(body["username"], body["password"])


async def test_cities_are_paired_with_every_service_and_each_trusts_the_others_issuers(cities):
    zs, sz = cities
    async with httpx.AsyncClient(timeout=30) as http:
        for here, there in ((zs, sz), (sz, zs)):
            gw = Gateway(here, http)
            admin = await gw.login("admin", "Admin#2026")
            partner = (await gw.call("GET", f"/api/v1/interop/partners/{there.region}", admin)).json()
            assert partner["status"] == "active" and "case.forward" in partner["services"]
            assert partner["base_url"] == there.gateway_url
            trusted = await gw.call("GET", "/api/v1/credentials/trusted-issuers", admin)
            assert trusted.status_code == 200, trusted.text
            assert there.region in {t["region_code"] for t in trusted.json()["items"]}, trusted.json()
