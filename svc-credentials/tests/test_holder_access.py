"""A holder's licences listed and presented for svc-interop (scope `credentials:present`), when the
holder asks from the partner city (深中通办): ownership, bad ids, scope, idempotency, audit, and a
presentation that verifies exactly like the holder's own."""

import datetime as dt
import time
import uuid
from contextlib import asynccontextmanager

import httpx
import pytest

from tongban.credentials.config import Settings
from tongban.credentials.holder_access.consent import FORMAT
from tongban.credentials.holder_access.router import router as holder_access_router
from tongban.credentials.main import SERVICE, create_app
from tongban.credentials.signing import algorithms

API = "/api/v1/credentials"
SHENZHEN, ZHONGSHAN = "440300", "442000"


def with_holder_access(app):  # noqa: ANN001, ANN201
    """The router, unless main.py mounts it already (before the lifespan starts)."""
    if not any(getattr(r, "path", "").endswith("/holders/{holder_id}/licences") for r in app.routes):
        app.include_router(holder_access_router, prefix=SERVICE.prefix)
    return app


@asynccontextmanager
async def running(infra, issuer, key_dir):  # noqa: ANN001
    app = with_holder_access(create_app(Settings(database_url=infra.fresh_database(SERVICE), nats_url=infra.nats.url,
                                                 jwks_json=issuer.jwks_json, log_level="WARNING", key_dir=key_dir)))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(headers={"Accept-Language": "en"}, transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            yield client


@pytest.fixture
async def svc(infra, token_issuer, tmp_path, clean_nats):  # noqa: ANN001
    async with running(infra, token_issuer, tmp_path / "keys") as client:
        yield client


INTEROP_SCOPES = "credentials:read credentials:trust credentials:present"


def interop(tokens, scopes: str = INTEROP_SCOPES) -> dict[str, str]:  # noqa: ANN001
    return tokens.headers("service", scopes, sub="service:interop", service="interop")


class Shenzhen:
    """The partner city's consent signer: its key on our trust list (as svc-interop syncs it), and
    the consents its residents give in their own city's app, signed as its svc-credentials does."""

    ISSUER = "114403000000000011"

    def __init__(self) -> None:
        self.kid = f"sz-consent-{uuid.uuid4().hex[:6]}"
        self.private, self.public = algorithms.generate("Ed25519")

    async def trust(self, svc, tokens) -> None:  # noqa: ANN001
        r = await svc.put(f"{API}/trusted-issuers/{SHENZHEN}", headers=tokens.admin, json={
            "name": "深圳市", "keys": [{"kid": self.kid, "issuer_code": self.ISSUER, "algorithm": "Ed25519",
                                      "public_key": algorithms.b64u(self.public)}]})
        assert r.status_code == 200, r.text

    def consent(self, holder: str, asker: str = SHENZHEN, holder_city: str = ZHONGSHAN, days: float = 1,
                **change) -> dict[str, str]:  # noqa: ANN003
        now = int(time.time())
        document = {"v": 1, "cid": uuid.uuid4().hex, "holder": holder, "holder_type": "111" if holder[:17].isdigit()
                    else "001", "asker": asker, "holder_city": holder_city, "purpose": "深圳办事查验证照",
                    "iat": now, "exp": now + int(days * 86400), "iss": self.ISSUER, "kid": self.kid, **change}
        token = FORMAT.encode(document, algorithms.sign("Ed25519", self.private, algorithms.canonical(document)))
        return {"X-Holder-Consent": token}


@pytest.fixture
async def shenzhen(svc, tokens) -> Shenzhen:  # noqa: ANN001
    city = Shenzhen()
    await city.trust(svc, tokens)
    return city


async def test_interop_lists_and_presents_a_holders_licence(svc, tokens, k, shenzhen) -> None:
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    await k.issue(svc, tokens, holder=k.OTHER_CITIZEN)
    bare = interop(tokens)
    # Without the holder's signed consent for this partner city: 403 consent_required.
    r = await svc.get(f"{API}/holders/{k.CITIZEN}/licences", params={"partner": SHENZHEN}, headers=bare)
    assert r.status_code == 403 and r.json()["code"] == "consent_required"
    other_city = Shenzhen()       # a key no one put on our trust list
    for wrong in (shenzhen.consent(k.CITIZEN, asker="441900"), shenzhen.consent(k.OTHER_CITIZEN),
                  shenzhen.consent(k.CITIZEN, holder_city="440100"), shenzhen.consent(k.CITIZEN, days=-1),
                  other_city.consent(k.CITIZEN), {"X-Holder-Consent": "TBC1.e30.AAAA"}):
        r = await svc.get(f"{API}/holders/{k.CITIZEN}/licences", params={"partner": SHENZHEN},
                          headers={**bare, **wrong})
        assert r.status_code == 403 and r.json()["code"] == "consent_required", r.text
    given = shenzhen.consent(k.CITIZEN)
    document = given["X-Holder-Consent"].split(".")[1]
    forged = {"X-Holder-Consent": f"TBC1.{document}.{'A' * 86}"}
    r = await svc.get(f"{API}/holders/{k.CITIZEN}/licences", params={"partner": SHENZHEN}, headers={**bare, **forged})
    assert r.status_code == 403 and r.json()["code"] == "consent_required"
    svc_h = {**bare, **given}

    r = await svc.get(f"{API}/holders/{k.CITIZEN}/licences", params={"partner": SHENZHEN}, headers=svc_h)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 1 and page["next_offset"] is None
    item = page["items"][0]
    assert item["identifier"] == lic["identifier"] and item["type_name"] == "食品经营许可证"
    assert item["issuer_name"] == "中山市市场监督管理局" and item["status"] == "valid"
    assert "data" not in item and "预包装" not in r.text and "张三" not in r.text  # no field values, no name

    body = {"partner": SHENZHEN, "purpose": "深圳市民中心窗口核验", "fields": ["business_scope"]}
    key = {"Idempotency-Key": "msg-1"}
    r = await svc.post(f"{API}/holders/{k.CITIZEN}/licences/{lic['identifier']}/presentations", json=body,
                       headers={**svc_h, **key})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["qr"].startswith("TBP1.") and made["fields"] == ["business_scope"]
    assert made["identifier"] == lic["identifier"] and made["licence_id"] == lic["id"]
    again = await svc.post(f"{API}/holders/{k.CITIZEN}/licences/{lic['identifier']}/presentations", json=body,
                           headers={**svc_h, **key})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["qr"] == made["qr"]
    # by its id as well
    r = await svc.post(f"{API}/holders/{k.CITIZEN}/licences/{lic['id']}/presentations",
                       json={"partner": SHENZHEN, "purpose": "核验"}, headers=svc_h)
    assert r.status_code == 201 and set(r.json()["fields"]) == {"business_scope", "address", "holder_name"}

    # It verifies exactly as the holder's own presentation would.
    v = (await svc.post(f"{API}/verifications", json={"presentation": made["qr"]})).json()
    assert v["result"] == "valid" and v["fields"] == {"business_scope": "预包装食品销售"}

    # Audited: the service, the partner, the masked holder; the purpose as the reason.
    audit = (await svc.get(f"{API}/audit-events", params={"entity": "licence", "entity_id": lic["id"]},
                           headers=tokens.admin)).json()["items"]
    ours = [a for a in audit if a["action"] == "presentation.created_for_partner"]
    assert len(ours) == 2 and ours[-1]["reason"] == "深圳市民中心窗口核验"
    assert ours[-1]["detail"]["partner"] == SHENZHEN and ours[-1]["actor_role"] == "service"
    assert ours[-1]["actor"].startswith("service:interop for 440300 on behalf of 442000")
    created = [a for a in audit if a["action"] == "presentation.created"]
    assert created and all("service:interop" in a["actor"] for a in created)
    assert k.CITIZEN not in str(audit)
    listed = (await svc.get(f"{API}/audit-events", params={"entity": "holder"}, headers=tokens.admin)).json()
    assert listed["items"][0]["action"] == "licence.listed_for_partner" and k.CITIZEN not in str(listed)


async def test_ownership_bad_ids_scope_and_state(svc, tokens, k, shenzhen) -> None:
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    svc_h = {**interop(tokens), **shenzhen.consent(k.CITIZEN)}
    other_h = {**interop(tokens), **shenzhen.consent(k.OTHER_CITIZEN)}
    body = {"partner": SHENZHEN, "purpose": "核验"}
    url = f"{API}/holders/{{holder}}/licences/{{ref}}/presentations"

    # Someone else's licence, or none, is 404 alike.
    r = await svc.post(url.format(holder=k.OTHER_CITIZEN, ref=lic["identifier"]), json=body, headers=other_h)
    assert r.status_code == 404 and r.json()["code"] == "licence_not_found"
    r = await svc.post(url.format(holder=k.OTHER_CITIZEN, ref=lic["id"]), json=body, headers=other_h)
    assert r.status_code == 404
    r = await svc.post(url.format(holder=k.CITIZEN, ref="00000000-0000-4000-8000-000000000000"), json=body,
                       headers=svc_h)
    assert r.status_code == 404
    r = await svc.get(f"{API}/holders/{k.OTHER_CITIZEN}/licences", params={"partner": SHENZHEN}, headers=other_h)
    assert r.status_code == 200 and r.json()["total"] == 0

    # Bad ids and bodies: 422 problem+json.
    bad_id = k.CITIZEN[:-1] + ("0" if k.CITIZEN[-1] != "0" else "1")
    for status_url in (f"{API}/holders/{bad_id}/licences?partner={SHENZHEN}",
                       f"{API}/holders/x%20y/licences?partner=1"):
        r = await svc.get(status_url, headers=svc_h)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
    r = await svc.post(url.format(holder=k.CITIZEN, ref="1.2.156.3005.2.nonsense"), json=body, headers=svc_h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "licence"
    for wrong in ({"partner": "SZ", "purpose": "x"}, {"partner": SHENZHEN}, {**body, "extra": 1},
                  {**body, "fields": ["no_such_field"]}):
        r = await svc.post(url.format(holder=k.CITIZEN, ref=lic["id"]), json=wrong, headers=svc_h)
        assert r.status_code == 422, (wrong, r.text)

    # No scope, or not a service (a citizen cannot act for another holder): 403; no token: 401.
    r = await svc.get(f"{API}/holders/{k.CITIZEN}/licences", params={"partner": SHENZHEN},
                      headers=interop(tokens, "credentials:read credentials:trust"))
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    r = await svc.post(url.format(holder=k.CITIZEN, ref=lic["id"]), json=body, headers=tokens.citizen)
    assert r.status_code == 403
    r = await svc.post(url.format(holder=k.CITIZEN, ref=lic["id"]), json=body,
                       headers=tokens.headers("citizen", "credentials:read credentials:present", sub="c",
                                              id_number=k.CITIZEN))
    assert r.status_code == 403 and r.json()["code"] == "not_permitted"
    r = await svc.get(f"{API}/holders/{k.CITIZEN}/licences", params={"partner": SHENZHEN})
    assert r.status_code == 401

    # A suspended licence is listed with its status and cannot be presented.
    r = await svc.post(f"{API}/licences/{lic['id']}/suspend", json={"reason": "核查"}, headers=tokens.approver)
    assert r.status_code == 200, r.text
    r = await svc.get(f"{API}/holders/{k.CITIZEN}/licences", params={"partner": SHENZHEN}, headers=svc_h)
    assert r.json()["items"][0]["status"] == "suspended"
    r = await svc.post(url.format(holder=k.CITIZEN, ref=lic["id"]), json=body, headers=svc_h)
    assert r.status_code == 409 and r.json()["code"] == "not_presentable"


async def test_a_company_holders_licences(svc, tokens, k, shenzhen) -> None:
    await k.setup_type(svc, tokens, code=k.DEPT + "002", holder_type="001")
    r = await svc.post(f"{API}/licences", headers=tokens.approver, json={
        **k.licence(holder=k.COMPANY), "type_code": k.DEPT + "002", "holder_name": "中山某食品有限公司"})
    assert r.status_code == 201, r.text
    svc_h = {**interop(tokens), **shenzhen.consent(k.COMPANY)}
    r = await svc.get(f"{API}/holders/{k.COMPANY}/licences", params={"partner": SHENZHEN}, headers=svc_h)
    assert r.status_code == 200 and r.json()["items"][0]["holder_type"] == "001"
    r = await svc.post(f"{API}/holders/{k.COMPANY}/licences/{r.json()['items'][0]['identifier']}/presentations",
                       json={"partner": SHENZHEN, "purpose": "跨城投标"}, headers=svc_h)
    assert r.status_code == 201, r.text


async def test_our_resident_gives_her_consent_in_our_app(svc, tokens, k) -> None:
    """The other direction: our resident lets us ask Shenzhen for her licences there; the token is
    signed by our platform's consent key, published in GET /keys for Shenzhen's trust list."""
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    body = {"partner": SHENZHEN, "purpose": "查看深圳证照", "expires_at": until}
    key = {"Idempotency-Key": "consent-1"}
    r = await svc.post(f"{API}/me/partner-consents", headers={**tokens.citizen, **key}, json=body)
    assert r.status_code == 201, r.text
    again = await svc.post(f"{API}/me/partner-consents", headers={**tokens.citizen, **key}, json=body)
    assert again.json()["token"] == r.json()["token"]        # a retry gets the same consent
    document, signed, signature = FORMAT.decode(r.json()["token"])
    assert (document["holder"], document["asker"], document["holder_city"]) == (k.CITIZEN, ZHONGSHAN, SHENZHEN)
    keys = (await svc.get(f"{API}/keys")).json()["keys"]
    key = next(x for x in keys if x["kid"] == document["kid"])
    assert algorithms.verify("Ed25519", algorithms.unb64u(key["public_key"]), signed, signature)
    self_declared = tokens.headers("citizen", "credentials:read", sub="c-sd", id_number=k.CITIZEN,
                                   real_name_level="self_declared")
    r = await svc.post(f"{API}/me/partner-consents", headers=self_declared, json=body)
    assert r.status_code == 403 and r.json()["code"] == "real_name_required"
    for bad in ({**body, "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=9)).isoformat()},
                {**body, "partner": "SZ"}, {k_: v for k_, v in body.items() if k_ != "purpose"}):
        assert (await svc.post(f"{API}/me/partner-consents", headers=tokens.citizen, json=bad)).status_code == 422
