"""The migrations build exactly the tables the models describe (no drift either way)."""

from tongban.catalog.main import SERVICE
from tongban.shared.testing.plugin import migration_drift


async def test_the_migrations_build_exactly_the_models(infra):
    assert await migration_drift(infra, SERVICE) == []
