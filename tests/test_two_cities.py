"""Two cities on one machine (深中通办), as `make run-two-cities` starts them: Zhongshan and
Shenzhen, each with its own databases, NATS, services and gateway, paired by the launcher. The
story is driven only through the two gateways, as the mini-programs, the halls and the
approvers would drive it:

a Shenzhen resident applies in Shenzhen for a Zhongshan item -> Zhongshan approves -> the licence
is issued in Zhongshan -> in Shenzhen's app she consents that Zhongshan show Shenzhen her licences
-> she sees it through Shenzhen -> a Shenzhen clerk verifies it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tongban.shared.localinfra import NatsProcess, free_block, stop_all
from tongban.shared.testing.plugin import wait_for

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("tongban_launcher", ROOT / "deploy" / "local" / "run.py")
launcher = importlib.util.module_from_spec(_spec)
sys.modules["tongban_launcher"] = launcher  # dataclasses look their module up
_spec.loader.exec_module(launcher)

SZ_RESIDENT = "440304199203154312"  # synthetic, valid GB 11643 check digit (Futian, Shenzhen)
# 不动产转移登记: a cross-city Zhongshan item decided by an approver, producing 不动产权证书.
ITEM = "440600125000"
PROPERTY_CERT = "111000000000192548001"


@pytest.fixture(scope="module")
def cities(infra, tmp_path_factory):
    data = tmp_path_factory.mktemp("two-cities")
    # Databases of their own for each module using the fixture: the key store lives in `data`, and a
    # city's database kept from an earlier module would name department keys that store never had.
    run = data.name.removeprefix("two-cities")
    zs = launcher.City("zhongshan", "442000", "中山市", free_block(8), f"t2c{run}_zs_", data / "zs")
    sz = launcher.City("shenzhen", "440300", "深圳市", free_block(8), f"t2c{run}_sz_", data / "sz")
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
        stop_all(child.proc for child in procs)
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
        return (await self.account_with_id(admin, **body))[0]

    async def account_with_id(self, admin: dict, **body) -> tuple[dict, str]:
        r = await self.call("POST", "/auth/accounts", {**admin, "Idempotency-Key": str(uuid.uuid4())}, json=body)
        assert r.status_code == 201, r.text
        return await self.login(body["username"], body["password"]), r.json()["id"]


async def test_cities_are_paired_with_every_service_and_each_trusts_the_others_issuers(cities):
    zs, sz = cities
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, timeout=30) as http:
        for here, there in ((zs, sz), (sz, zs)):
            gw = Gateway(here, http)
            admin = await gw.login("admin", "Admin#2026")
            partner = (await gw.call("GET", f"/api/v1/interop/partners/{there.region}", admin)).json()
            assert partner["status"] == "active" and "case.forward" in partner["services"]
            assert partner["base_url"] == there.gateway_url
            trusted = await gw.call("GET", "/api/v1/credentials/trusted-issuers", admin)
            assert trusted.status_code == 200, trusted.text
            assert there.region in {t["region_code"] for t in trusted.json()["items"]}, trusted.json()


async def test_a_shenzhen_resident_gets_a_zhongshan_licence_and_a_shenzhen_clerk_verifies_it(cities):
    zs_city, sz_city = cities
    async with httpx.AsyncClient(headers={"Accept-Language": "en"}, timeout=30) as http:
        zs, sz = Gateway(zs_city, http), Gateway(sz_city, http)
        zs_admin, sz_admin = await zs.login("admin", "Admin#2026"), await sz.login("admin", "Admin#2026")
        resident, resident_id = await sz.account_with_id(
            sz_admin, username="sz-resident", password="Resident#2026", role="citizen", display_name="陈小明",
            id_number=SZ_RESIDENT, phone="13800138111")
        sz_clerk = await sz.login("clerk", "Clerk#2026")
        # At the counter the clerk checks her ID card: her real name is counter-verified from her next login.
        r = await sz.call("POST", f"/auth/accounts/{resident_id}/real-name-verification", sz_clerk,
                          json={"reason": "居民身份证原件核验（深中通办窗口）"})
        assert r.status_code == 200 and r.json()["real_name_level"] == "counter_verified", r.text
        resident = await sz.login("sz-resident", "Resident#2026")

        # 1. At a Shenzhen counter (深中通办 window) the resident applies for the Zhongshan item.
        r = await sz.call("POST", "/api/v1/interop/outgoing-cases", {**sz_clerk, "Idempotency-Key": str(uuid.uuid4())},
                          json={"partner": "442000", "item_code": ITEM,
                                "applicant": {"id_number": SZ_RESIDENT, "name": "陈小明"},
                                "form": {"applicant_name": "陈小明", "id_number": SZ_RESIDENT,
                                         "property_address": "中山市东区中山四路（示例）"}})
        assert r.status_code in (201, 202), r.text
        outgoing = r.json()

        seen: dict = {}

        async def zs_number() -> str | None:
            r = await sz.call("GET", f"/api/v1/interop/outgoing-cases/{outgoing['id']}", resident)
            seen.update(status=r.status_code, body=r.json())
            return r.json().get("remote_case_number")

        try:
            zs_case_number = await wait_for(zs_number, timeout=60)
        except AssertionError:
            raise AssertionError(f"Zhongshan's case number never reached Shenzhen: {seen}") from None

        # 2. Zhongshan's own staff decide it in Zhongshan's svc-cases, through Zhongshan's gateway.
        found = (await zs.call("GET", "/api/v1/cases/cases", zs_admin, params={"basic_code": ITEM})).json()
        case = next(c for c in found["items"] if c["case_number"] == zs_case_number)
        assert case["channel"] == "partner" and case["applicant_id"] != SZ_RESIDENT  # masked for staff
        approver = await zs.account(zs_admin, username="zs-nr-approver", password="Approver#2026", role="approver",
                                    display_name="自然资源局审批员", department=case["department"])
        zs_clerk = await zs.login("clerk", "Clerk#2026")
        for who, action, extra in ((zs_clerk, "accept", {}), (approver, "review", {}), (approver, "approve", {
                # What the registry decides for the certificate, beside what the form said.
                "licence_data": {"location": "中山市东区中山四路（示例）", "area": 89.5, "use": "住宅"}})):
            r = await zs.call("POST", f"/api/v1/cases/cases/{case['id']}/{action}", who,
                              json={"reason": "审核通过（示例）", **extra})
            assert r.status_code == 200, (action, r.text)

        # 3. Zhongshan issues the licence (证照联办): its identifier comes back onto the case, which completes.
        async def licence_on_case() -> dict | None:
            got = (await zs.call("GET", f"/api/v1/cases/cases/{case['id']}", approver)).json()
            return got if got.get("licence_identifier") else None

        try:
            decided = await wait_for(licence_on_case, timeout=60)
        except AssertionError as exc:  # say where the chain stopped (the case's timeline, its state)
            timeline = (await zs.call("GET", f"/api/v1/cases/cases/{case['id']}/timeline", approver)).json()
            raise AssertionError(f"{exc}; the case's timeline: {timeline}") from None
        identifier = decided["licence_identifier"]
        assert identifier.startswith(f"1.2.156.3005.2.{PROPERTY_CERT}.")

        # Shenzhen shows the applicant Zhongshan's progress.
        async def sz_sees_approval() -> dict | None:
            got = (await sz.call("GET", f"/api/v1/interop/outgoing-cases/{outgoing['id']}", resident)).json()
            return got if {"approved", "completed"} & {p["status"] for p in got["progress"]} else None

        await wait_for(sz_sees_approval, timeout=60)

        # 4. In Shenzhen's app she consents that Zhongshan show Shenzhen her licences (Shenzhen's
        # platform signs it; Zhongshan trusts that key from the pairing's key pull); without it
        # Shenzhen does not even ask.
        mine = await sz.call("GET", "/api/v1/interop/partner-licences", resident, params={"partner": "442000"})
        assert mine.status_code == 403 and mine.json()["code"] == "consent_required", mine.text
        r = await sz.call("POST", "/api/v1/credentials/me/partner-consents",
                          {**resident, "Idempotency-Key": str(uuid.uuid4())},
                          json={"partner": "442000", "purpose": "在深圳查看并出示中山证照",
                                "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()})
        assert r.status_code == 201, r.text
        consent = {"X-Holder-Consent": r.json()["token"]}

        # 5. ... and sees the licence through Shenzhen (her own city's mini-program) ...
        mine = await sz.call("GET", "/api/v1/interop/partner-licences", {**resident, **consent},
                             params={"partner": "442000"})
        assert mine.status_code == 200, mine.text
        assert identifier in {x["identifier"] for x in mine.json()["items"]}
        r = await sz.call("POST", f"/api/v1/interop/partner-licences/442000/{identifier}/presentations",
                          {**resident, **consent, "Idempotency-Key": str(uuid.uuid4())},
                          json={"purpose": "办理深圳业务时亮证"})
        assert r.status_code == 201, r.text
        qr = r.json()["qr"]

        # 6. ... and a Shenzhen clerk verifies what they show with Shenzhen's own svc-credentials,
        # which trusts Zhongshan's issuers (keys pulled by the pairing).
        r = await sz.call("POST", "/api/v1/credentials/verifications", sz_clerk, json={"presentation": qr})
        assert r.status_code == 200, r.text
        verdict = r.json()
        assert verdict["result"] == "valid", verdict
        assert verdict["identifier"] == identifier and verdict["issuer_region"] == "442000"
