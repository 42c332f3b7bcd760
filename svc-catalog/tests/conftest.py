import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from tongban.catalog.main import SERVICE
from tongban.catalog.seed import seed
from tongban.shared.db import make_engine, make_sessionmaker


def admin_headers(token_issuer, **extra):
    return {"Authorization": "Bearer " + token_issuer.mint("admin", "catalog:read catalog:write", ["catalog"]),
            **extra}


async def run_seed(url: str) -> tuple[int, int]:
    engine = make_engine(url, 2)
    try:
        sm = make_sessionmaker(engine)
        return await seed(sm), await seed(sm)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def seeded_db(infra):
    """One database with the demo catalogue, shared by a module's read-only tests."""
    url = infra.fresh_database(SERVICE)
    with ThreadPoolExecutor(1) as pool:
        first, second = pool.submit(asyncio.run, run_seed(url)).result()
    return url, first, second
