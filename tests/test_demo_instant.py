"""`make run`'s 秒批 demo: the launcher sets up, through the admin APIs, a form and an instant-
approval rule in svc-cases for every item the catalogue's demo data flags 秒批, the forms carrying
the fields of the licence each item issues; the demo citizen applies for one and the licence
reaches their wallet.

The three services run in-process on their own databases with the demo data their seed modules
load (as `make run` loads it); the launcher's own function does the configuration."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import httpx

from tongban.cases.main import SERVICE as CASES
from tongban.catalog import seed as catalog_seed
from tongban.catalog.main import SERVICE as CATALOG
from tongban.credentials import seed as credentials_seed
from tongban.credentials.main import SERVICE as CREDENTIALS
from tongban.shared.service_auth import BearerAuth, StaticToken
from tongban.shared.testing.plugin import running_service, wait_for

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("tongban_launcher", ROOT / "deploy" / "local" / "run.py")
launcher = importlib.util.module_from_spec(_spec)
sys.modules["tongban_launcher"] = launcher  # dataclasses look their module up
_spec.loader.exec_module(launcher)

MARRIAGE = "440600142000"                   # 结婚登记: 秒批, issues 结婚证
MARRIAGE_CERT = "1110000000001922XJ001"
# A one-pixel PNG: the photo the item asks for (an upload beside the two licence-backed materials).
PHOTO = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                      "0000000d49444154789c63f80f00000101000518d84e0000000049454e44ae426082")


def wired(cases, credentials, token_issuer) -> None:  # noqa: ANN001
    """Each service calling the other as itself (as `make run` configures them by URL)."""
    for client, target, scopes, audience, name in (
            (cases, credentials, "credentials:read credentials:use", "credentials", "cases"),
            (credentials, cases, "cases:lookup", "cases", "credentials")):
        token = token_issuer.mint("service", scopes, [audience], sub=f"service:{name}", service=name)
        attribute = "credentials" if name == "cases" else "cases"
        setattr(client.app.state, attribute, httpx.AsyncClient(headers={"Accept-Language": "en"},
            transport=httpx.ASGITransport(app=target.app), base_url=f"http://{audience}",
            auth=BearerAuth(StaticToken(token))))


async def test_every_instant_item_is_configured_and_the_citizen_gets_a_licence_at_once(
        infra, token_issuer, clean_nats, tmp_path, monkeypatch):
    keys = tmp_path / "keys"
    monkeypatch.setenv("TONGBAN_SEED_REGION", "442000")
    monkeypatch.setenv("CREDENTIALS_KEY_DIR", str(keys))
    admin = {"Authorization": "Bearer " + token_issuer.mint("admin", "cases:read cases:admin", ["cases"],
                                                             sub="admin-demo")}
    citizen = {"Authorization": "Bearer " + token_issuer.mint(
        "citizen", "cases:apply cases:read credentials:read", ["cases", "credentials"], sub="citizen-demo",
        id_number=credentials_seed.CITIZEN, name=credentials_seed.CITIZEN_NAME, real_name_level="verified")}
    async with running_service(CATALOG, infra, token_issuer) as catalog, \
            running_service(CREDENTIALS, infra, token_issuer, key_dir=keys) as credentials, \
            running_service(CASES, infra, token_issuer) as cases:
        await catalog_seed.seed(catalog.app.state.sessionmaker)
        await credentials_seed.seed(credentials.app.state.sessionmaker)
        instant = [i.basic_code for i in catalog_seed.demo_items() if i.flags.instant_approval]
        assert len(instant) >= 20

        configured = await launcher.configure_instant_items(catalog, credentials, cases, admin)
        assert sorted(configured) == sorted(instant)
        assert await launcher.configure_instant_items(catalog, credentials, cases, admin) == []  # run again: nothing
        types = {code: (await credentials.get(f"/api/v1/credentials/licence-types/{code}")).json()
                 for code in credentials_seed.LICENCE_TYPES}
        for code in instant:
            config = (await cases.get(f"/api/v1/cases/item-configs/{code}", headers=admin)).json()
            rules = (await cases.get(f"/api/v1/cases/item-configs/{code}/approval-rules", headers=admin)).json()
            assert [r["active"] for r in rules["items"]] == [True], code
            if config["result_licence_type"]:   # the form asks every field the licence requires
                lt = types[config["result_licence_type"]]
                asked = {f["name"] for f in config["form_fields"] if f["required"]}
                assert {f["name"] for f in lt["fields"] if f["required"]} <= asked, code
                assert config["department"] == lt["issuer_code"]

        form = {"applicant_name": "张三", "id_number": credentials_seed.CITIZEN, "spouse_name": "李梅",
                "registered_on": "2026-12-01", "registration_office": "中山市民政局婚姻登记处"}

        wired(cases, credentials, token_issuer)
        # The photo uploaded as a mini-program's wx.uploadFile sends it (multipart/form-data).
        r = await cases.post("/api/v1/cases/documents", files={"file": ("wxfile_photo.png", PHOTO, "image/png")},
                             headers=citizen | {"Idempotency-Key": "photo-1"})
        assert r.status_code == 201, r.text
        materials = [{"name": "居民身份证", "licence_type_code": "11100000000019211T001", "consent": True},
                     {"name": "居民户口簿", "licence_type_code": "11100000000019211T002", "consent": True},
                     {"name": "近期免冠彩色照片", "document_id": r.json()["id"]}]

        async def applied():  # once the catalogue's events have reached svc-cases' read copy
            r = await cases.post("/api/v1/cases/cases", headers=citizen,
                                 json={"basic_code": MARRIAGE, "form_data": form, "materials": materials})
            return r if r.status_code == 201 else None

        r = await wait_for(applied, timeout=20, interval=0.5)
        assert r.json()["state"] == "approved", r.text
        case_id = r.json()["id"]

        async def completed():
            case = (await cases.get(f"/api/v1/cases/cases/{case_id}", headers=citizen)).json()
            return case if case["licence_identifier"] else None

        case = await wait_for(completed, timeout=20)
        mine = (await credentials.get("/api/v1/credentials/me/licences", headers=citizen)).json()
        [licence] = [x for x in mine["items"] if x["identifier"] == case["licence_identifier"]]
        assert licence["type_code"] == MARRIAGE_CERT and licence["type_name"], licence
        for client in (cases.app.state.credentials, credentials.app.state.cases):
            await client.aclose()
