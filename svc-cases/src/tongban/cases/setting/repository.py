from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.setting.models import Setting


async def get_setting(session: AsyncSession, key: str) -> Any:
    """The stored value of a setting, or None (the caller's model supplies the defaults)."""
    row = await session.get(Setting, key)
    return None if row is None else row.value


async def put_setting(session: AsyncSession, key: str, value: Any, actor: str) -> None:
    """Create or replace a setting."""
    row = await session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value, updated_by=actor))
    else:
        row.value, row.updated_by = value, actor
    await session.flush()
