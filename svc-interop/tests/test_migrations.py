"""The migrations build exactly the tables the models describe (no drift either way)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tongban.interop.db import Base
from tongban.interop.main import SERVICE
from tongban.shared.db import make_engine


async def test_the_migrations_build_exactly_the_models(infra):
    def diff(conn) -> list:
        ctx = MigrationContext.configure(conn, opts={
            "include_schemas": True, "compare_type": True, "version_table_schema": "interop",
            "include_name": lambda name, type_, _: name == "interop" if type_ == "schema" else True})
        return compare_metadata(ctx, Base.metadata)

    engine = make_engine(infra.fresh_database(SERVICE), 1)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()
