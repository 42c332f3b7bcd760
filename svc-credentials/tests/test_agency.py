"""Who acts for whom: real-name levels, a person's agent, a company's agent, delegations by item and
action, revocation on the next request, and every act naming actor and principal."""

import datetime as dt
import hashlib
import time
import uuid

from tongban.shared.revocation import Revoked

API = "/api/v1/credentials"


def until(days: int = 30) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def delegation(actions: list[str], items: tuple[str, ...] = ("442000000001",)) -> dict:
    return {"id": str(uuid.uuid4()), "items": list(items), "actions": actions, "until": until()}


async def test_a_self_declared_account_is_told_to_verify(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    self_declared = tokens.headers("citizen", "credentials:read", sub="new-1", id_number=k.CITIZEN,
                                   real_name_level="self_declared")
    for method, url in (("GET", f"{API}/me/licences"), ("GET", f"{API}/licences/{lic['id']}"),
                        ("GET", f"{API}/me/consents"), ("GET", f"{API}/me/licence-uses")):
        r = await svc.request(method, url, headers=self_declared)
        assert r.status_code == 403 and r.json()["code"] == "real_name_required", (url, r.text)
        assert "verif" in r.json()["detail"] and r.headers["content-type"].startswith("application/problem+json")
    r = await svc.post(f"{API}/licences/{lic['id']}/presentations", json={}, headers=self_declared)
    assert r.status_code == 403 and r.json()["code"] == "real_name_required"
    # The same person, verified, sees and shows them (the wallet names each licence's type);
    # public routes stay open to everyone.
    wallet = (await svc.get(f"{API}/me/licences", headers=tokens.citizen)).json()
    assert wallet["total"] == 1 and wallet["items"][0]["type_name"] == "食品经营许可证"
    assert (await svc.get(f"{API}/licences/{lic['id']}", headers=tokens.citizen)).json()["type_name"] == "食品经营许可证"
    assert (await svc.get(f"{API}/licence-types", headers=self_declared)).status_code == 200


async def test_a_daughter_acts_for_her_mother_within_her_delegation(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    daughter_id = k.resident("44200020000101002")
    granted = delegation(["read", "present", "consent"])

    def daughter(*delegations: dict) -> dict:
        return tokens.headers("citizen", "credentials:read", sub="daughter-1", id_number=daughter_id,
                              real_name_level="verified",
                              agent_for={"kind": "person", "id_number": k.CITIZEN, "name": "张三",
                                         "delegations": list(delegations)})

    agent = daughter(granted)
    r = await svc.get(f"{API}/licences/{lic['id']}", headers=agent)
    assert r.status_code == 200 and r.json()["holder_id"] == k.CITIZEN    # unmasked: she acts for the holder
    r = await svc.post(f"{API}/licences/{lic['id']}/presentations", json={"fields": ["business_scope"]},
                       headers=agent)
    assert r.status_code == 201, r.text
    r = await svc.post(f"{API}/consents", headers=agent, json={
        "licence_type_code": k.TYPE_CODE, "case_id": str(uuid.uuid4()), "expires_at": until(7),
        "department": k.OTHER_DEPT, "holder_id": k.CITIZEN})
    assert r.status_code == 201, r.text
    consent = r.json()
    assert consent["given_by"] == "daughter-1" and consent["delegation_id"] == granted["id"]
    # The mother sees what was done in her name.
    mine = (await svc.get(f"{API}/me/consents", headers=tokens.citizen)).json()["items"]
    assert [c["id"] for c in mine] == [consent["id"]] and mine[0]["given_by"] == "daughter-1"

    # Without the action, without any delegation, or with an expired one: outside_delegation, audited.
    read_only = daughter(delegation(["read"]))
    r = await svc.post(f"{API}/licences/{lic['id']}/presentations", json={}, headers=read_only)
    assert r.status_code == 403 and r.json()["code"] == "outside_delegation"
    expired = {**granted, "id": str(uuid.uuid4()), "until": until(-1)}
    for headers in (daughter(), daughter(expired)):
        r = await svc.get(f"{API}/licences/{lic['id']}", headers=headers)
        assert r.status_code == 403 and r.json()["code"] == "outside_delegation", r.text
    refusals = (await svc.get(f"{API}/audit-events", params={"entity": "route"},
                              headers=tokens.admin)).json()["items"]
    assert {e["actor"] for e in refusals} == {"daughter-1"} and len(refusals) == 3
    assert {(e["action"], e["reason"]) for e in refusals} == {("policy.refused", "outside_delegation")}

    # Revoked: the deny list refuses the token on its next request.
    svc.app.state.token_verifier.denylist.add(Revoked("delegation", granted["id"], time.time() + 3600))
    r = await svc.get(f"{API}/licences/{lic['id']}", headers=agent)
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"


async def test_a_company_agent_is_not_the_company(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens, code=k.DEPT + "002", holder_type="001")
    r = await svc.post(f"{API}/licences", headers=tokens.approver, json={
        **k.licence(holder=k.COMPANY), "type_code": k.DEPT + "002", "holder_name": "中山某食品有限公司"})
    assert r.status_code == 201, r.text
    lic = r.json()
    rep = tokens.headers("company", "credentials:read credentials:seal", sub="rep-1", credit_code=k.COMPANY,
                         company_role="legal_representative")
    seal = (await svc.post(f"{API}/seals", headers=rep, json={"kind": "contract", "company_name": "某公司"})).json()

    def agent(*delegations: dict) -> dict:
        claims = {"agent_for": {"kind": "company", "credit_code": k.COMPANY, "delegations": list(delegations)}} \
            if delegations else {}
        return tokens.headers("company", "credentials:read credentials:seal", sub="agent-1", name="代办员",
                              credit_code=k.COMPANY, company_role="agent", **claims)

    bare = agent()
    for url in (f"{API}/me/licences", f"{API}/licences/{lic['id']}", f"{API}/seals/{seal['id']}"):
        r = await svc.get(url, headers=bare)
        assert r.status_code == 403 and r.json()["code"] == "outside_delegation", (url, r.text)
    digest = hashlib.sha256(b"contract").hexdigest()
    r = await svc.post(f"{API}/seals/{seal['id']}/applications", headers=bare,
                       json={"document_hash": digest, "hash_algorithm": "SHA-256"})
    assert r.status_code == 403 and r.json()["refusal"] == "no_delegation"

    reader = agent(delegation(["read"]))
    assert [x["id"] for x in (await svc.get(f"{API}/me/licences", headers=reader)).json()["items"]] == [lic["id"]]
    r = await svc.post(f"{API}/seals/{seal['id']}/applications", headers=reader,
                       json={"document_hash": digest, "hash_algorithm": "SHA-256"})
    assert r.status_code == 403 and r.json()["refusal"] == "outside_delegation"

    sealer = delegation(["seal"])
    r = await svc.post(f"{API}/seals/{seal['id']}/applications", headers=agent(sealer),
                       json={"document_hash": digest, "hash_algorithm": "SHA-256", "document_name": "合同"})
    assert r.status_code == 201, r.text
    use = r.json()["use"]
    assert use["actor"] == "agent-1" and use["company_code"] == k.COMPANY
    assert use["agency_delegation_id"] == sealer["id"]
    # The company (its legal representative) sees what was done in its name, refusals included.
    log = (await svc.get(f"{API}/seal-uses", headers=rep)).json()["items"]
    assert [(u["actor"], u["outcome"], u["agency_delegation_id"]) for u in reversed(log)] == [
        ("agent-1", "refused", None), ("agent-1", "refused", None), ("agent-1", "applied", sealer["id"])]


async def test_a_licence_use_names_the_agent_the_service_reports(svc, tokens, k) -> None:
    await k.setup_type(svc, tokens)
    await k.issue(svc, tokens)
    case_id = str(uuid.uuid4())
    r = await svc.post(f"{API}/consents", headers=tokens.citizen, json={
        "licence_type_code": k.TYPE_CODE, "case_id": case_id, "expires_at": until(7), "department": k.OTHER_DEPT})
    assert r.status_code == 201
    cases = tokens.headers("service", "credentials:read credentials:use", sub="service:cases")
    delegation_id = str(uuid.uuid4())
    ask = {"holder_id": k.CITIZEN, "licence_type_code": k.TYPE_CODE, "case_id": case_id, "purpose": "免证办核验",
           "department": k.OTHER_DEPT, "agent": "daughter-1", "delegation_id": delegation_id}
    r = await svc.post(f"{API}/licence-uses", json=ask, headers=cases)
    assert r.status_code == 201, r.text
    assert r.json()["use"]["agent"] == "daughter-1" and r.json()["use"]["delegation_id"] == delegation_id
    log = (await svc.get(f"{API}/me/licence-uses", headers=tokens.citizen)).json()["items"]
    assert log[0]["agent"] == "daughter-1" and log[0]["actor"] == "service:cases"
    # Staff cannot claim to act for an agent.
    r = await svc.post(f"{API}/licence-uses", json={k: v for k, v in ask.items() if k != "department"},
                       headers=tokens.user)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "agent"
