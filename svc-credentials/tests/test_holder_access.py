"""A holder's licences listed and presented for svc-interop (scope `credentials:present`), when the
holder asks from the partner city (深中通办): ownership, bad ids, scope, idempotency, audit, and a
presentation that verifies exactly like the holder's own."""

import datetime as dt
from contextlib import asynccontextmanager

import httpx
import pytest

from tongban.credentials.config import Settings
from tongban.credentials.holder_access.router import router as holder_access_router
from tongban.credentials.main import SERVICE, create_app

API = "/api/v1/credentials"
SHENZHEN = "440300"


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
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            yield client


@pytest.fixture
async def svc(infra, token_issuer, tmp_path, clean_nats):  # noqa: ANN001
    async with running(infra, token_issuer, tmp_path / "keys") as client:
        yield client


INTEROP_SCOPES = "credentials:read credentials:trust credentials:present"


def interop(tokens, scopes: str = INTEROP_SCOPES) -> dict[str, str]:  # noqa: ANN001
    return tokens.headers("service", scopes, sub="service:interop", service="interop")


async def consent(svc, holder: dict[str, str], partner: str = SHENZHEN) -> dict[str, str]:  # noqa: ANN001
    """The holder's signed consent for the partner city, as the header svc-interop forwards."""
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    r = await svc.post(f"{API}/me/partner-consents", headers=holder,
                       json={"partner": partner, "purpose": "深圳办事查验证照", "expires_at": until})
    assert r.status_code == 201, r.text
    return {"X-Holder-Consent": r.json()["token"]}


async def test_interop_lists_and_presents_a_holders_licence(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    await k.issue(svc, tokens, holder=k.OTHER_CITIZEN)
    bare = interop(tokens)
    # Without the holder's signed consent for this partner city: 403 consent_required.
    r = await svc.get(f"{API}/holders/{k.CITIZEN}/licences", params={"partner": SHENZHEN}, headers=bare)
    assert r.status_code == 403 and r.json()["code"] == "consent_required"
    for wrong in (await consent(svc, tokens.citizen, "441900"), await consent(svc, tokens.other_citizen),
                  {"X-Holder-Consent": "TBC1.e30.AAAA"}):
        r = await svc.get(f"{API}/holders/{k.CITIZEN}/licences", params={"partner": SHENZHEN},
                          headers={**bare, **wrong})
        assert r.status_code == 403 and r.json()["code"] == "consent_required", r.text
    given = await consent(svc, tokens.citizen)
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


async def test_ownership_bad_ids_scope_and_state(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    svc_h = {**interop(tokens), **await consent(svc, tokens.citizen)}
    other_h = {**interop(tokens), **await consent(svc, tokens.other_citizen)}
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


async def test_a_company_holders_licences(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens, code=k.DEPT + "002", holder_type="001")
    r = await svc.post(f"{API}/licences", headers=tokens.approver, json={
        **k.licence(holder=k.COMPANY), "type_code": k.DEPT + "002", "holder_name": "中山某食品有限公司"})
    assert r.status_code == 201, r.text
    rep = tokens.headers("company", "credentials:read", sub="rep-1", credit_code=k.COMPANY,
                         company_role="legal_representative")
    svc_h = {**interop(tokens), **await consent(svc, rep)}
    r = await svc.get(f"{API}/holders/{k.COMPANY}/licences", params={"partner": SHENZHEN}, headers=svc_h)
    assert r.status_code == 200 and r.json()["items"][0]["holder_type"] == "001"
    r = await svc.post(f"{API}/holders/{k.COMPANY}/licences/{r.json()['items'][0]['identifier']}/presentations",
                       json={"partner": SHENZHEN, "purpose": "跨城投标"}, headers=svc_h)
    assert r.status_code == 201, r.text
