"""深中通办 亮证: a Shenzhen resident's Zhongshan licence, seen and presented through Shenzhen.

Two svc-interop instances (Zhongshan 442000, Shenzhen 440300), each with its own real
svc-credentials. Zhongshan issues a licence to a Shenzhen resident; in Shenzhen's app she gives her consent for
Zhongshan (Shenzhen's svc-credentials signs it), then lists the licence and has Zhongshan make a
presentation of it through Shenzhen's svc-interop (`credentials.present`, her consent carried in the
signed body, signed both ways, logged in both chains); Zhongshan's svc-credentials checks her consent
against its trust list (Shenzhen's keys, synced); Shenzhen's svc-credentials verifies the
presentation as valid (issuer region 442000) once the trust sync brought Zhongshan's issuer keys
and status-list URL."""

import datetime as dt
import tempfile
from pathlib import Path

import httpx
import pytest

from tongban.interop.pairing import CITY_SERVICES, pair
from tongban.shared.ids import credit_code_check_char, resident_id_check_digit
from tongban.shared.localinfra import free_port

pytestmark = pytest.mark.usefixtures("clean_nats")
ZHONGSHAN, SHENZHEN, GUANGZHOU = "442000", "440300", "440100"
SECRET = "s3cret-for-tests"
CLIENTS = {"zs-at-sz": ZHONGSHAN, "sz-at-zs": SHENZHEN}
ZS_AMR = "11442000007234512" + credit_code_check_char("11442000007234512")
HOLDER = "44030019900101123" + resident_id_check_digit("44030019900101123")      # lives in Shenzhen
NEIGHBOUR = "44030019851231456" + resident_id_check_digit("44030019851231456")
CRED, API = "/api/v1/credentials", "/api/v1/interop"


def platform_signers(region: str) -> dict[str, str]:
    """Each city's own status-list signer, time-stamping authority and consent signer (issuers of
    its region: a partner's keys are trusted only for issuers of the partner's region)."""
    from tongban.shared.ids import credit_code_check_char

    codes = {k: f"11{region}00730000{n}" for k, n in (("status_list_signer_code", "1"), ("tsa_code", "2"),
                                                      ("consent_signer_code", "3"))}
    return {k: v + credit_code_check_char(v) for k, v in codes.items()}


def credentials_app(infra, issuer, key_dir: Path, region: str = "442000"):
    """A real svc-credentials, with the holder endpoints mounted unless main.py mounts them already."""
    from tongban.credentials.config import Settings as CredentialsSettings
    from tongban.credentials.holder_access.router import router as holder_access_router
    from tongban.credentials.main import SERVICE as CREDENTIALS
    from tongban.credentials.main import create_app

    app = create_app(CredentialsSettings(database_url=infra.fresh_database(CREDENTIALS), nats_url=infra.nats.url,
                                         jwks_json=issuer.jwks_json, log_level="WARNING", key_dir=key_dir,
                                         region_code=region, **platform_signers(region)))
    if not any(getattr(r, "path", "").endswith("/holders/{holder_id}/licences") for r in app.routes):
        app.include_router(holder_access_router, prefix=CREDENTIALS.prefix)
    return app


def forget_cached_keys() -> None:
    """Both cities' svc-credentials run in this one process and share its module-level key cache."""
    from tongban.credentials.presentation import service as presentations

    presentations._key_cache.clear()


async def zhongshan_licence(http, url, issuer) -> dict:
    def h(role, scopes, **claims):
        return {"Authorization": "Bearer " + issuer.mint(role, scopes, ["credentials"], **claims)}
    r = await http.post(f"{url}{CRED}/licence-types", headers=h("admin", "credentials:admin", sub="zs-admin"), json={
        "code": ZS_AMR + "001", "name": "食品经营许可证", "issuer_code": ZS_AMR,
        "issuer_name": "中山市市场监督管理局",
        "holder_type": "111", "validity": "years", "validity_years": 5,
        "fields": [{"name": "business_scope", "type": "string", "max_length": 200},
                   {"name": "address", "type": "string", "personal": True}]})
    assert r.status_code == 201, r.text
    r = await http.post(f"{url}{CRED}/licences", headers=h("approver", "credentials:issue", sub="zs-approver",
                                                           department=ZS_AMR), json={
        "type_code": ZS_AMR + "001", "holder_id": HOLDER, "holder_name": "王五",
        "data": {"business_scope": "预包装食品销售", "address": "中山市东区中山四路1号"}})
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_resident_sees_and_presents_a_partner_licence(infra, token_issuer, kit, admin):
    gw = await kit.Served(kit.token_endpoint(token_issuer, CLIENTS, SECRET)).start()
    key_dir = Path(tempfile.mkdtemp(prefix="cred-keys-"))
    creds = {r: await kit.Served(credentials_app(infra, token_issuer, key_dir, r)).start() for r in (ZHONGSHAN, SHENZHEN)}
    ports = {r: free_port() for r in (ZHONGSHAN, SHENZHEN)}
    urls = {r: f"http://127.0.0.1:{p}" for r, p in ports.items()}
    cities = {}
    for me, other in ((ZHONGSHAN, SHENZHEN), (SHENZHEN, ZHONGSHAN)):
        # Partners fetch our status lists where our gateway serves svc-credentials (here: directly).
        app = kit.build(infra, token_issuer, region_code=me, public_url=urls[me], partner_secrets={other: SECRET},
                        credentials_url=creds[me].url, credentials_public_url=creds[me].url + "/",
                        # No gateway here: the partner's status lists are served beside its base URL.
                        partner_url_bases={other: [creds[other].url]})
        cities[me] = await kit.Served(app, ports[me]).start()
    http = httpx.AsyncClient(headers={"Accept-Language": "en"}, timeout=15)

    def citizen(id_number, scopes="cases:read credentials:read", sub="sz-citizen", level="verified"):
        return {"Authorization": "Bearer " + token_issuer.mint("citizen", scopes, ["interop", "credentials"], sub=sub,
                                                               id_number=id_number, real_name_level=level)}

    async def consent_for_zhongshan(id_number, sub):
        """In Shenzhen's app the resident agrees that Zhongshan may show Shenzhen her licences."""
        r = await http.post(f"{creds[SHENZHEN].url}{CRED}/me/partner-consents", headers=citizen(id_number, sub=sub),
                            json={"partner": ZHONGSHAN, "purpose": "在深圳办事时查看中山证照",
                                  "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()})
        assert r.status_code == 201, r.text
        return {"X-Holder-Consent": r.json()["token"]}
    sz = urls[SHENZHEN]
    try:
        admin_token = admin["Authorization"].split()[1]
        await pair(http, urls[ZHONGSHAN], admin_token, sz, f"{gw.url}/auth/token", "zs-at-sz")
        await pair(http, sz, admin_token, urls[ZHONGSHAN], f"{gw.url}/auth/token", "sz-at-zs")
        lic = await zhongshan_licence(http, creds[ZHONGSHAN].url, token_issuer)
        # The status-list signer's key is made with its first list: fetch one before the keys travel.
        list_id = lic["credential_status"]["status_list_credential"].rsplit("/", 1)[1]
        assert (await http.get(f"{creds[ZHONGSHAN].url}{CRED}/status-lists/{list_id}")).status_code == 200
        # Each city pulls the other's keys: Shenzhen's verifiers need Zhongshan's issuers, and
        # Zhongshan needs Shenzhen's consent signer to believe a Shenzhen resident's consent.
        for here, there in ((sz, ZHONGSHAN), (urls[ZHONGSHAN], SHENZHEN)):
            r = await http.post(f"{here}{API}/partners/{there}/sync", headers=admin)
            assert r.status_code == 200 and {s["kind"]: s for s in r.json()}["issuer_keys"]["ok"] is True, r.text

        # 0. Without her consent (or her verified real name), nothing is asked of Zhongshan.
        r = await http.get(f"{sz}{API}/partner-licences", params={"partner": ZHONGSHAN}, headers=citizen(HOLDER))
        assert r.status_code == 403 and r.json()["code"] == "consent_required", r.text
        r = await http.get(f"{sz}{API}/partner-licences", params={"partner": ZHONGSHAN},
                           headers=citizen(HOLDER, level="self_declared"))
        assert r.status_code == 403 and r.json()["code"] == "real_name_required", r.text
        given = await consent_for_zhongshan(HOLDER, "sz-citizen")

        # 1. The resident sees the Zhongshan licence through Shenzhen (no field values).
        r = await http.get(f"{sz}{API}/partner-licences", params={"partner": ZHONGSHAN},
                           headers={**citizen(HOLDER), **given})
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == 1 and page["items"][0]["identifier"] == lic["identifier"]
        assert page["items"][0] | {"partner": ZHONGSHAN, "status": "valid", "type_name": "食品经营许可证",
                                   "issuer_name": "中山市市场监督管理局"} == page["items"][0]
        assert "预包装" not in r.text and "王五" not in r.text

        # 2. ... and has Zhongshan make a presentation of it (idempotent on Shenzhen's side).
        ask = {"purpose": "深圳市民中心窗口核验", "fields": ["business_scope"]}
        url = f"{sz}{API}/partner-licences/{ZHONGSHAN}/{lic['identifier']}/presentations"
        r = await http.post(url, json=ask, headers={**citizen(HOLDER), **given, "Idempotency-Key": "show-1"})
        assert r.status_code == 201, r.text
        shown = r.json()
        assert shown["qr"].startswith("TBP1.") and shown["partner"] == ZHONGSHAN
        assert shown["fields"] == ["business_scope"]
        again = await http.post(url, json=ask, headers={**citizen(HOLDER), **given, "Idempotency-Key": "show-1"})
        assert again.status_code == 201 and again.json()["qr"] == shown["qr"]
        assert again.headers.get("idempotent-replayed") == "true"

        # 3. A Shenzhen clerk verifies it with Shenzhen's own svc-credentials: valid, from 442000.
        forget_cached_keys()
        clerk = {"Authorization": "Bearer " + token_issuer.mint("clerk", "credentials:read", ["credentials"],
                                                                sub="sz-clerk", hall="sz-hall-1")}
        r = await http.post(f"{creds[SHENZHEN].url}{CRED}/verifications", json={"presentation": shown["qr"]},
                            headers=clerk)
        assert r.status_code == 200, r.text
        verdict = r.json()
        assert verdict["result"] == "valid" and verdict["issuer_region"] == ZHONGSHAN, verdict
        assert verdict["issuer_code"] == ZS_AMR and verdict["fields"] == {"business_scope": "预包装食品销售"}
        forget_cached_keys()

        # 4. Someone else (with her own consent, or with the holder's), a consent Zhongshan does not
        # believe, a bad id, no scope, an unknown or unreachable partner.
        neighbour = {**citizen(NEIGHBOUR, sub="sz-neighbour"), **await consent_for_zhongshan(NEIGHBOUR, "sz-neighbour")}
        r = await http.post(url, json=ask, headers=neighbour)
        assert r.status_code == 404 and r.json()["code"] == "licence_not_found", r.text
        r = await http.get(f"{sz}{API}/partner-licences", params={"partner": ZHONGSHAN}, headers=neighbour)
        assert r.status_code == 200 and r.json()["total"] == 0
        r = await http.get(f"{sz}{API}/partner-licences", params={"partner": ZHONGSHAN},
                           headers={**citizen(NEIGHBOUR, sub="sz-neighbour"), **given})
        assert r.status_code == 403 and r.json()["code"] == "consent_required", r.text
        head, payload, signature = given["X-Holder-Consent"].split(".")
        forged = {"X-Holder-Consent": f"{head}.{payload}.{'A' * len(signature)}"}
        r = await http.get(f"{sz}{API}/partner-licences", params={"partner": ZHONGSHAN},
                           headers={**citizen(HOLDER), **forged})
        assert r.status_code == 403 and r.json()["code"] == "consent_required", r.text
        assert "trust list" in r.json()["detail"]      # Zhongshan's refusal, signed and logged
        r = await http.post(f"{sz}{API}/partner-licences/{ZHONGSHAN}/1.2.156.nonsense/presentations", json=ask,
                            headers={**citizen(HOLDER), **given})
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
        r = await http.post(f"{sz}{API}/partner-licences/{ZHONGSHAN}/bad%20id/presentations", json=ask,
                            headers={**citizen(HOLDER), **given})
        assert r.status_code == 422
        r = await http.get(f"{sz}{API}/partner-licences", params={"partner": ZHONGSHAN},
                           headers={**citizen(HOLDER, scopes="queue:book"), **given})
        assert r.status_code == 403
        r = await http.get(f"{sz}{API}/partner-licences", params={"partner": GUANGZHOU},
                           headers={**citizen(HOLDER), **given})
        assert r.status_code == 404 and r.json()["code"] == "partner_not_found"
        r = await http.post(f"{sz}{API}/partners", headers=admin, json={
            "region_code": GUANGZHOU, "name": "广州市", "base_url": f"http://127.0.0.1:{free_port()}",
            "services": CITY_SERVICES, "keys": [kit.PartnerCity(GUANGZHOU, token_issuer).jwk()]})
        assert r.status_code == 201, r.text
        guangzhou = await http.post(f"{creds[SHENZHEN].url}{CRED}/me/partner-consents", headers=citizen(HOLDER),
                                    json={"partner": GUANGZHOU, "purpose": "查看广州证照",
                                          "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()})
        r = await http.get(f"{sz}{API}/partner-licences", params={"partner": GUANGZHOU},
                           headers={**citizen(HOLDER), "X-Holder-Consent": guangzhou.json()["token"]})
        assert r.status_code == 503 and r.json()["code"] == "partner_unavailable"

        # 5. Audited on both sides (with her consent), and every exchange is in both chains (the
        # holder masked in headers).
        audit = (await http.get(f"{sz}{API}/audit-events", params={"entity": "partner_licence"}, headers=admin)).json()
        assert audit["items"][0]["action"] == "partner_licence.presented"
        assert audit["items"][0]["reason"] == "深圳市民中心窗口核验"
        zs_audit = (await http.get(f"{creds[ZHONGSHAN].url}{CRED}/audit-events", params={"entity": "licence"},
                                   headers={"Authorization": "Bearer " + token_issuer.mint(
                                       "auditor", "audit:read", ["credentials"])})).json()["items"]
        mine = [a for a in zs_audit if a["action"] == "presentation.created_for_partner"]
        assert mine and mine[0]["actor"].startswith("service:interop for 440300 on behalf of 440300")
        assert mine[0]["detail"]["consent"]
        assert HOLDER not in str(zs_audit)
        for city in urls.values():
            check = (await http.get(f"{city}{API}/ledger/verify", headers=admin)).json()
            assert check["ok"] is True, check
        log = (await http.get(f"{sz}{API}/ledger/entries", params={"limit": 200}, headers=admin)).json()["items"]
        sent = [e for e in log if e["direction"] == "outbound" and "/exchange/" in e["target"]
                and e["target"].rsplit("/", 1)[1] in ("holder-licences", "presentations")]
        # delivered: the two lists and the presentation; failed (and why): the refusals above.
        assert sum(e["outcome"] == "delivered" for e in sent) == 3, [(e["outcome"], e["reason"]) for e in sent]
        assert all(e["reason"] for e in sent if e["outcome"] == "failed")
        assert all(HOLDER not in str(e["request_headers"]) for e in sent)
        assert any(HOLDER[:6] + "********" + HOLDER[-4:] in str(e["request_headers"]) for e in sent)

        # 6. Zhongshan stops granting credentials.present to Shenzhen: refused (signed, logged), 502.
        r = await http.patch(f"{urls[ZHONGSHAN]}{API}/partners/{SHENZHEN}", headers=admin, json={
            "services": [s for s in CITY_SERVICES if s != "credentials.present"], "reason": "test"})
        assert r.status_code == 200, r.text
        r = await http.get(f"{sz}{API}/partner-licences", params={"partner": ZHONGSHAN},
                           headers={**citizen(HOLDER), **given})
        assert r.status_code == 502 and r.json()["code"] == "partner_refused", r.text
    finally:
        await http.aclose()
        for served in (*cities.values(), *creds.values(), gw):
            await served.stop()
