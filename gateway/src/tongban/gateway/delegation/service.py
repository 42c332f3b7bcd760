"""Delegations (委托): an agent account acts for a principal — a company (its agents, 代办) or a
person (an elderly parent, a child, a patient) — on some items and actions, from a start until
an expiry. Granted online by the principal (a company's legal representative or administrator;
a citizen at `verified` level) or witnessed by a clerk at a counter, with the written 委托书's
reference kept. Revoking refuses the agent's tokens that carry it from the next request on.
An agent's access tokens carry what it may do now (`agent_for`), so every service checks an
agent's request against it without asking the gateway."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.gateway.account import repository as accounts
from tongban.gateway.account.models import Account
from tongban.gateway.db import audit
from tongban.gateway.delegation import repository
from tongban.gateway.delegation.errors import (
    DelegationNotFound,
    DelegationRevoked,
    NotAnAgentAccount,
    NotAnAgentOfTheCompany,
    NotLegalRepresentative,
)
from tongban.gateway.delegation.models import Delegation
from tongban.gateway.delegation.schemas import DelegationCreate, DelegationRead, DelegationRevoke, DelegationWitness
from tongban.gateway.revocation import service as revocations
from tongban.shared import clock
from tongban.shared.auth import NotOwner, Principal, RealNameRequired
from tongban.shared.pagination import Page, PageParams, paginate

PRINCIPAL_ROLES = ("legal_representative", "administrator")


async def _grantor(session: AsyncSession, caller: Principal) -> Account:
    """The caller's account, if it may grant delegations in its own name."""
    account = await accounts.get(session, uuid.UUID(caller.sub))
    if account is None or not account.active:
        raise NotLegalRepresentative()
    if account.role == "company" and account.company_role in PRINCIPAL_ROLES:
        return account
    if account.role == "citizen":
        if account.real_name_level not in ("verified", "counter_verified"):
            raise RealNameRequired("only a verified citizen delegates online: verify your real name, "
                                   "or sign a 委托书 at a counter")
        return account
    raise NotLegalRepresentative()


async def _agent_for(session: AsyncSession, kind: str, principal_id: str, agent_id: uuid.UUID) -> Account:
    agent = await accounts.get(session, agent_id)
    if kind == "company":
        if agent is None or agent.company_role != "agent" or agent.credit_code != principal_id or not agent.active:
            raise NotAnAgentOfTheCompany()
    elif agent is None or agent.role != "citizen" or agent.id_number == principal_id or not agent.active:
        raise NotAnAgentAccount()
    return agent


async def create(session: AsyncSession, caller: Principal, data: DelegationCreate) -> Delegation:
    """The principal delegates, online: a company to one of its agents, a citizen to another citizen."""
    grantor = await _grantor(session, caller)
    kind = "company" if grantor.role == "company" else "person"
    principal_id = grantor.credit_code if kind == "company" else grantor.id_number
    assert principal_id is not None  # company and citizen accounts always have it (schema rule)
    agent = await _agent_for(session, kind, principal_id, data.agent_id)
    delegation = await repository.add(session, Delegation(
        principal_kind=kind, principal_id=principal_id, principal_name=grantor.display_name,
        credit_code=principal_id if kind == "company" else None, representative_id=grantor.id, agent_id=agent.id,
        items=sorted(set(data.items)), actions=sorted(set(data.actions)), starts_at=data.starts_at or clock.now(),
        expires_at=data.expires_at, granted_via="online"))
    await _audit_created(session, caller, delegation)
    return delegation


async def witness(session: AsyncSession, clerk: Principal, data: DelegationWitness) -> Delegation:
    """A clerk records a delegation the principal signed at the counter (委托书 referenced)."""
    agent = await _agent_for(session, data.principal_kind, data.principal_id, data.agent_id)
    delegation = await repository.add(session, Delegation(
        principal_kind=data.principal_kind, principal_id=data.principal_id, principal_name=data.principal_name,
        credit_code=data.principal_id if data.principal_kind == "company" else None, representative_id=None,
        agent_id=agent.id, items=sorted(set(data.items)), actions=sorted(set(data.actions)),
        starts_at=data.starts_at or clock.now(), expires_at=data.expires_at, granted_via="counter",
        witnessed_by=uuid.UUID(clerk.sub), hall=clerk.hall, document_ref=data.document_ref))
    await _audit_created(session, clerk, delegation)
    return delegation


async def _audit_created(session: AsyncSession, actor: Principal, d: Delegation) -> None:
    await audit.record(session, actor, "delegation.created", "delegation", str(d.id),
                       detail={"agent_id": str(d.agent_id), "principal_kind": d.principal_kind,
                               "items": d.items, "actions": d.actions, "granted_via": d.granted_via,
                               "document_ref": d.document_ref, "starts_at": d.starts_at.isoformat(),
                               "expires_at": d.expires_at.isoformat()})


def _may_revoke(caller: Principal, d: Delegation) -> bool:
    if caller.role == "clerk" and caller.has("accounts:verify"):
        return True  # the principal came to a counter
    if d.principal_kind == "company":
        return caller.role == "company" and caller.credit_code == d.principal_id \
            and caller.company_role in PRINCIPAL_ROLES
    return caller.role == "citizen" and caller.id_number == d.principal_id and caller.verified


async def revoke(session: AsyncSession, caller: Principal, delegation_id: uuid.UUID,
                 data: DelegationRevoke) -> Delegation:
    """Revoke a delegation: the agent's tokens that carry it are refused from the next request on."""
    delegation = await repository.get_for_update(session, delegation_id)
    if delegation is None or not _may_revoke(caller, delegation):
        if caller.role == "company" and caller.company_role not in PRINCIPAL_ROLES:
            raise NotLegalRepresentative()
        raise DelegationNotFound()
    if delegation.revoked_at is not None:
        raise DelegationRevoked()
    delegation.revoked_at = clock.now()
    delegation.revoked_reason = data.reason
    await session.flush()
    await revocations.revoke_delegation(session, delegation.id, "delegation revoked")
    await audit.record(session, caller, "delegation.revoked", "delegation", str(delegation.id), reason=data.reason)
    return delegation


async def list_visible(session: AsyncSession, caller: Principal, params: PageParams) -> Page[DelegationRead]:
    """A principal sees what it granted; an agent what it was given; a citizen both."""
    agent_id = uuid.UUID(caller.sub)
    if caller.role == "company" and caller.credit_code is not None:
        principal = caller.credit_code if caller.company_role in PRINCIPAL_ROLES else None
    elif caller.role == "citizen":
        principal = caller.id_number if caller.verified else None
    else:
        raise NotOwner()
    return await paginate(session, repository.visible_stmt(principal, agent_id), params,
                          DelegationRead.model_validate)


async def agent_claim(session: AsyncSession, account: Account) -> dict[str, Any] | None:
    """The `agent_for` claim: for whom the agent acts and every delegation in force for that
    principal (items, actions, until). A company's agent acts for its company; a citizen with
    delegations from several people acts for the one who delegated last (one principal per token)."""
    if account.role not in ("company", "citizen") or account.company_role in PRINCIPAL_ROLES:
        return None
    active = await repository.active_for_agent(session, account.id, clock.now())
    if account.role == "company":
        active = [d for d in active if d.principal_id == account.credit_code]
    if not active:
        return None
    first = active[0]
    mine = [d for d in active if d.principal_id == first.principal_id and d.principal_kind == first.principal_kind]
    key = "credit_code" if first.principal_kind == "company" else "id_number"
    return {"kind": first.principal_kind, key: first.principal_id, "name": first.principal_name,
            "delegations": [{"id": str(d.id), "items": list(d.items), "actions": list(d.actions),
                             "until": d.expires_at.isoformat()} for d in sorted(mine, key=lambda d: str(d.id))]}
