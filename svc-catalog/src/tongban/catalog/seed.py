"""Demo data for `make run`: a few of Zhongshan's standard items, published through the service
layer (so their events reach the other services). Running it again adds nothing."""

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.catalog.config import Settings
from tongban.catalog.item import repository, service
from tongban.catalog.item.schemas import ItemCreate
from tongban.shared.auth import Principal
from tongban.shared.db import make_engine, make_sessionmaker

SEED_ACTOR = Principal(sub="system:seed", role="admin", scopes=frozenset({"catalog:write"}))
DEMO_ITEMS = [
    ItemCreate(basic_code="440100001000", name="建设工程规划许可证核发", exercise_level=4, case_type="promised",
               statutory_limit=20, statutory_limit_unit="working_day", promised_limit=10,
               promised_limit_unit="working_day", legal_basis="《中华人民共和国城乡规划法》第四十条"),
    ItemCreate(basic_code="440100002000", name="食品经营许可", aliases=["食品经营许可证核发"], exercise_level=4,
               case_type="promised", statutory_limit=20, statutory_limit_unit="working_day", promised_limit=5,
               promised_limit_unit="working_day", legal_basis="《中华人民共和国食品安全法》第三十五条"),
    ItemCreate(basic_code="442000003000", name="居民身份证换领", exercise_level=4, case_type="promised",
               statutory_limit=60, statutory_limit_unit="natural_day", promised_limit=15,
               promised_limit_unit="working_day"),
    ItemCreate(basic_code="442000004000", name="灵活就业人员参保登记", exercise_level=4, case_type="immediate"),
    ItemCreate(basic_code="440100005000", name="个体工商户设立登记", exercise_level=4, case_type="promised",
               statutory_limit=15, statutory_limit_unit="working_day", promised_limit=1,
               promised_limit_unit="working_day"),
]


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Publish the demo items that are not there yet; returns how many were added."""
    added = 0
    async with sessionmaker() as session, session.begin():
        for item in DEMO_ITEMS:
            if await repository.get_by_code(session, item.basic_code) is None:
                await service.publish_item(session, item, SEED_ACTOR)
                added += 1
    return added


async def main() -> None:
    engine = make_engine(Settings().database_url, 2)
    try:
        print(f"catalog: {await seed(make_sessionmaker(engine))} demo items added")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
