"""The migrations build exactly the tables the models describe (no drift either way), and every
migration steps back down and up again."""

import asyncio

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from tongban.cases.main import SERVICE
from tongban.shared.db import make_engine
from tongban.shared.migrations import alembic_config
from tongban.shared.testing.plugin import migration_drift


async def test_the_migrations_build_exactly_the_models(infra):
    assert await migration_drift(infra, SERVICE) == []


async def _rating_checks(url: str) -> list[str]:
    engine = make_engine(url, 1)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'cases.rating'::regclass AND contype = 'c'"
                " ORDER BY conname"))).scalars())
    finally:
        await engine.dispose()


async def test_the_migrations_go_down_to_nothing_and_up_again(infra):
    url = infra.fresh_database(SERVICE)
    cfg = alembic_config(SERVICE.root, url)
    assert await _rating_checks(url) == ["ck_rating_level"]
    # Alembic's env runs its own event loop: keep it off the test's running loop.
    # Down to just before 0012_model_drift (whatever it follows once the branches are merged).
    before = ScriptDirectory.from_config(cfg).get_revision("0012_model_drift").down_revision
    await asyncio.to_thread(command.downgrade, cfg, before)
    assert await _rating_checks(url) == ["ck_rating_ck_rating_level"]   # as 0002 named it
    await asyncio.to_thread(command.downgrade, cfg, "base")
    engine = make_engine(url, 1)
    try:
        async with engine.connect() as conn:
            left = (await conn.execute(text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'cases'"
                " AND table_name <> 'alembic_version'"))).scalars().all()
    finally:
        await engine.dispose()
    assert left == []
    await asyncio.to_thread(command.upgrade, cfg, "head")
    assert await _rating_checks(url) == ["ck_rating_level"]
