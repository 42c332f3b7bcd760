"""Whom a benefit call is for: the caller itself, or its principal under a delegation, asked of
the one policy (tongban.cases.policy) with the policy's item for an application."""

from __future__ import annotations

from dataclasses import dataclass

from tongban.cases.case.errors import NotAllowedForRole
from tongban.shared.auth import Principal
from tongban.shared.policy import Access, Target


@dataclass(frozen=True)
class Subject:
    id: str
    type: str           # company | person
    name: str | None


def resolve(access: Access, requested: str | None, item: str | None = None) -> Subject:
    """The subject named (default: the caller's own, or its only principal for an agent), checked
    by the route's permission: NotOwner / OutsideDelegation / RealNameRequired name what failed."""
    p: Principal = access.principal  # type: ignore[assignment]
    agent_for = p.agent_for
    wanted = requested.upper() if requested else (
        agent_for.id if agent_for is not None and (p.company_role == "agent" or p.own_id is None) else p.own_id)
    if wanted is None:
        raise NotAllowedForRole("this account is no company or person")
    access.check(Target(owner=wanted, item=item))
    if agent_for is not None and agent_for.id == wanted:
        return Subject(wanted, agent_for.kind, agent_for.name)
    kind = "company" if p.role == "company" else "person"
    name = (p.claims.get("company_name") or p.name) if kind == "company" else p.name
    return Subject(wanted, kind, name)
