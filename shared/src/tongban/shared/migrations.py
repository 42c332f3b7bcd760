"""Alembic glue shared by every service: the async env.py body and a programmatic upgrade."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from tongban.shared.db import async_url


def run_env(metadata: MetaData, url_env: str) -> None:
    """The body of a service's migrations/env.py. Only this service's schema is ever touched.

    The database URL comes from the alembic config (set by `upgrade`) or from the
    service's own environment variable, e.g. CATALOG_DATABASE_URL.
    """
    schema = metadata.schema
    assert schema, "service metadata must carry its schema"
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get(url_env)
    if not url:
        raise SystemExit(f"set {url_env} to the service's database URL")

    def include_name(name: str | None, type_: str, _parent: Any) -> bool:
        return name == schema if type_ == "schema" else True

    def do_run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection, target_metadata=metadata, version_table_schema=schema,
            include_schemas=True, include_name=include_name, compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
        async with engine.begin() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(main())


def alembic_config(service_dir: Path, url: str) -> Config:
    cfg = Config(str(service_dir / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_dir / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(service_dir: Path, url: str, revision: str = "head") -> None:
    """Run a service's migrations up to `revision` (blocking; call it in a thread from async code)."""
    command.upgrade(alembic_config(service_dir, url), revision)
