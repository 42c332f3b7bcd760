import datetime as dt
from typing import Any

from sqlalchemy import literal
from sqlalchemy.dialects.postgresql import JSONB, insert
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


async def claim_daily(session: AsyncSession, key: str, day: dt.date) -> bool:
    """True once per `day` for `key`, across replicas (the row is upserted only if it held another day)."""
    t = Setting.__table__
    stmt = (insert(t).values(key=key, value=day.isoformat(), updated_by="system")
            .on_conflict_do_update(index_elements=[t.c.key], set_={"value": day.isoformat()},
                                   where=t.c.value != literal(day.isoformat(), type_=JSONB))
            .returning(t.c.key))
    return (await session.execute(stmt)).first() is not None
