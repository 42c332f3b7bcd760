"""Demo data for `make run`: the city's service halls (names real, positions approximate,
counters, hours and slots synthetic) with ticket categories, counters with skills and
appointment slots, created through the service layer (audited). Running it again adds nothing.
The city is TONGBAN_SEED_REGION (442000 Zhongshan by default, 440300 Shenzhen for
`make run-two-cities`).

Demo halls only: every demo hall is open round the clock on every day of the year, weekends and
public holidays included (`open_on_rest_days`, hours 00:00-23:59:59), so a newcomer trying
`make run` on a Sunday night can still take a ticket and book a slot. Real halls keep their own
hours and the working-day calendar.

Each city's main hall has a fixed id: the demo clerk's account (gateway seed) names it in its
`hall` claim, so the clerk can sign in to its counters.
"""

import asyncio
import datetime as dt
import os
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.queue.appointment import service as appointment_service
from tongban.queue.appointment.schemas import SlotTemplateCreate
from tongban.queue.config import Settings
from tongban.queue.counter import service as counter_service
from tongban.queue.counter.schemas import CounterCreate, Skill
from tongban.queue.hall import repository as hall_repository
from tongban.queue.hall import service as hall_service
from tongban.queue.hall.schemas import CategoryCreate, HallCreate, OpeningHours
from tongban.shared.auth import Principal
from tongban.shared.db import make_engine, make_sessionmaker

SEED_ACTOR = Principal(sub="system:seed", role="admin", scopes=frozenset({"queue:admin"}))
MAIN_HALL_ID = uuid.UUID("0b0a4420-0001-4000-8000-000000000001")

# Demo only (see above): every day, all day.
EVERY_DAY = {d: OpeningHours(opens=dt.time(0, 0), closes=dt.time(23, 59, 59)) for d in range(1, 8)}
WEEKDAYS = WITH_SATURDAY = EVERY_DAY
CATEGORIES = [CategoryCreate(code="A", name="综合受理"), CategoryCreate(code="B", name="企业开办"),
              CategoryCreate(code="C", name="深中通办（跨城）"), CategoryCreate(code="D", name="不动产登记")]

# (hall id or None, name, address, latitude, longitude, hours, counters: (number, kind, skills))
ZHONGSHAN_HALLS = [
    (MAIN_HALL_ID, "中山市政务服务中心", "广东省中山市东区松苑路1号", 22.5176, 113.3926, WITH_SATURDAY, [
        *[(str(n), "comprehensive", [("A", "high"), ("D", "low")]) for n in range(1, 7)],
        ("7", "company_registration", [("B", "high"), ("A", "low")]),
        ("8", "company_registration", [("B", "high")]),
        ("9", "cross_city", [("C", "high"), ("A", "low")]),
        ("10", "specialised", [("D", "high")]),
    ]),
    (None, "中山市石岐街道行政服务中心", "广东省中山市石岐街道民生路（示例地址）", 22.5222, 113.3768, WEEKDAYS, [
        ("1", "comprehensive", [("A", "high"), ("C", "normal")]),
        ("2", "comprehensive", [("A", "high"), ("B", "normal")]),
    ]),
    (None, "中山市火炬开发区政务服务中心", "广东省中山市火炬开发区康乐大道（示例地址）", 22.5318, 113.4655, WEEKDAYS, [
        ("1", "company_registration", [("B", "high")]),
        ("2", "comprehensive", [("A", "high"), ("D", "normal")]),
        ("3", "cross_city", [("C", "high")]),
    ]),
]
SHENZHEN_HALLS = [
    (MAIN_HALL_ID, "深圳市民中心行政服务大厅", "广东省深圳市福田区福中三路市民中心B区", 22.5431, 114.0579, WEEKDAYS, [
        *[(str(n), "comprehensive", [("A", "high"), ("D", "low")]) for n in range(1, 5)],
        ("5", "company_registration", [("B", "high")]),
        ("6", "cross_city", [("C", "high"), ("A", "low")]),
    ]),
    (None, "深圳市南山区政务服务中心", "广东省深圳市南山区南头街道（示例地址）", 22.5329, 113.9305, WEEKDAYS, [
        ("1", "comprehensive", [("A", "high"), ("C", "normal")]),
        ("2", "company_registration", [("B", "high")]),
    ]),
]
HALLS_BY_REGION = {"442000": ZHONGSHAN_HALLS, "440300": SHENZHEN_HALLS}
# Appointment slots on each opening weekday: category, start, end, places.
SLOTS = [("A", dt.time(9, 0), dt.time(10, 0), 20), ("A", dt.time(10, 0), dt.time(11, 0), 20),
         ("A", dt.time(14, 0), dt.time(15, 0), 20), ("B", dt.time(9, 0), dt.time(11, 0), 10),
         ("C", dt.time(9, 0), dt.time(12, 0), 6), ("D", dt.time(14, 0), dt.time(16, 0), 8)]


def demo_halls(region: str | None = None) -> list:
    return HALLS_BY_REGION[region or os.environ.get("TONGBAN_SEED_REGION", "442000")]


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Create the city's demo halls that are not there yet (by id where the hall has a fixed one,
    else by name: an admin may since have renamed it); returns how many were added."""
    added = 0
    region = os.environ.get("TONGBAN_SEED_REGION", "442000")
    for hall_id, name, address, lat, lng, hours, counters in demo_halls(region):
        async with sessionmaker() as session, session.begin():
            if any(h.id == hall_id if hall_id else h.name == name for h in await hall_repository.all_halls(session)):
                continue
            hall = await hall_service.create_hall(session, HallCreate(
                name=name, region_code=region, address=address, latitude=lat, longitude=lng,
                opening_hours=hours, open_on_rest_days=True, categories=CATEGORIES), SEED_ACTOR, hall_id=hall_id)
            for number, kind, skills in counters:
                await counter_service.create_counter(session, hall.id, CounterCreate(
                    number=number, kind=kind, skills=[Skill(category=c, weight=w) for c, w in skills]), SEED_ACTOR)
            served = {c for _, _, skills in counters for c, _ in skills}
            for weekday in hours:
                for category, starts, ends, capacity in SLOTS:
                    if category in served and hours[weekday].opens <= starts and ends <= hours[weekday].closes:
                        await appointment_service.create_template(session, hall.id, SlotTemplateCreate(
                            category=category, weekday=weekday, starts=starts, ends=ends, capacity=capacity),
                            SEED_ACTOR)
            added += 1
    return added


async def main() -> None:
    engine = make_engine(Settings().database_url, 2)
    try:
        print(f"queue: {await seed(make_sessionmaker(engine))} demo halls added")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
