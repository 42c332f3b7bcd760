from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.rule.models import ApprovalRule


async def current(session: AsyncSession, basic_code: str) -> ApprovalRule | None:
    """The newest version of the item's rule, if it is active."""
    rule = (await session.execute(select(ApprovalRule).where(ApprovalRule.basic_code == basic_code)
                                  .order_by(ApprovalRule.version.desc()).limit(1))).scalar_one_or_none()
    return rule if rule is not None and rule.active else None


async def next_version(session: AsyncSession, basic_code: str) -> int:
    """The next version number; the item's rows are locked so two admins cannot take the same one."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("approval_rule:" + basic_code))))
    last = (await session.execute(select(func.max(ApprovalRule.version))
                                  .where(ApprovalRule.basic_code == basic_code))).scalar()
    return (last or 0) + 1


async def add(session: AsyncSession, rule: ApprovalRule) -> None:
    session.add(rule)
    await session.flush()


def list_query(basic_code: str) -> Select[tuple[ApprovalRule]]:
    return select(ApprovalRule).where(ApprovalRule.basic_code == basic_code).order_by(ApprovalRule.version.desc())
