"""Delegations (代办): a company's legal representative lets an agent account act on some items
until an expiry, and may revoke it. An agent's access tokens carry what is delegated now
(`agent_for`), so every service can check an agent's request against it."""

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
    NotAnAgentOfTheCompany,
    NotLegalRepresentative,
)
from tongban.gateway.delegation.models import Delegation
from tongban.gateway.delegation.schemas import DelegationCreate, DelegationRead, DelegationRevoke
from tongban.gateway.revocation import service as revocations
from tongban.shared import clock
from tongban.shared.auth import NotOwner, Principal
from tongban.shared.pagination import Page, PageParams, paginate


async def _representative(session: AsyncSession, caller: Principal) -> Account:
    account = await accounts.get(session, uuid.UUID(caller.sub))
    if account is None or account.role != "company" or account.company_role != "legal_representative":
        raise NotLegalRepresentative()
    return account


async def create(session: AsyncSession, caller: Principal, data: DelegationCreate) -> Delegation:
    """Delegate items to an agent of the representative's own company."""
    rep = await _representative(session, caller)
    agent = await accounts.get(session, data.agent_id)
    if agent is None or agent.company_role != "agent" or agent.credit_code != rep.credit_code:
        raise NotAnAgentOfTheCompany()
    assert rep.credit_code is not None  # a company account always has one (schema rule)
    delegation = await repository.add(session, Delegation(
        credit_code=rep.credit_code, representative_id=rep.id, agent_id=agent.id,
        items=sorted(set(data.items)), expires_at=data.expires_at))
    await audit.record(session, caller, "delegation.created", "delegation", str(delegation.id),
                       detail={"agent_id": str(agent.id), "items": delegation.items,
                               "expires_at": delegation.expires_at.isoformat()})
    return delegation


async def revoke(session: AsyncSession, caller: Principal, delegation_id: uuid.UUID,
                 data: DelegationRevoke) -> Delegation:
    """Revoke a delegation of the representative's company: the agent's tokens that carry it are
    refused from the next request on."""
    rep = await _representative(session, caller)
    delegation = await repository.get_for_update(session, delegation_id)
    if delegation is None or delegation.credit_code != rep.credit_code:
        raise DelegationNotFound()
    if delegation.revoked_at is not None:
        raise DelegationRevoked()
    delegation.revoked_at = clock.now()
    delegation.revoked_reason = data.reason
    await session.flush()
    # The agent's access tokens that carry it stop at once (their next token comes without it).
    await revocations.revoke_delegation(session, delegation.id, "delegation revoked")
    await audit.record(session, caller, "delegation.revoked", "delegation", str(delegation.id), reason=data.reason)
    return delegation


async def list_visible(session: AsyncSession, caller: Principal, params: PageParams) -> Page[DelegationRead]:
    """The representative sees the company's delegations; an agent only their own."""
    if caller.role != "company" or caller.credit_code is None:
        raise NotOwner()
    agent_id = uuid.UUID(caller.sub) if caller.claims.get("company_role") == "agent" else None
    return await paginate(session, repository.visible_stmt(caller.credit_code, agent_id), params,
                          DelegationRead.model_validate)


async def agent_claim(session: AsyncSession, account: Account) -> dict[str, Any] | None:
    """What an agent may do now, for the `agent_for` claim: the company, the union of the
    delegated items, the earliest expiry among the delegations that grant them, and their ids
    (revoking one of them refuses the token)."""
    if account.company_role != "agent":
        return None
    active = await repository.active_for_agent(session, account.id, clock.now())
    if not active:
        return None
    return {"credit_code": account.credit_code, "items": sorted({i for d in active for i in d.items}),
            "exp": int(min(d.expires_at for d in active).timestamp()),
            "delegations": sorted(str(d.id) for d in active)}
