"""What the halls look like now: waiting lines, counters, calls; the nearest open hall; daily
statistics per hall and for the whole city."""

import datetime as dt
import hashlib
import math
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue import clock
from tongban.queue.appointment import repository as appointments
from tongban.queue.config import Settings
from tongban.queue.counter import repository as counters
from tongban.queue.db import outbox
from tongban.queue.hall import repository as halls
from tongban.queue.hall import service as hall_service
from tongban.queue.live import repository
from tongban.queue.live.schemas import (
    CallRead, CategoryLive, CityStats, CounterLive, HallDayStats, HallLive, NearbyHall,
)
from tongban.queue.ticket import repository as tickets
from tongban.shared.contracts.queue import HALL_STATS_UPDATED, HallStatsV1
from tongban.shared.events.envelope import make_event

EARTH_RADIUS_KM = 6371.0088
# Ranking adds travel time to the wait: an urban trip at about 20 km/h is 3 minutes per km.
TRAVEL_MINUTES_PER_KM = 3.0


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


async def hall_live(session: AsyncSession, settings: Settings, hall_id: uuid.UUID) -> HallLive:
    """Waiting per category with estimated waits, each counter's current ticket, the last calls."""
    hall = await hall_service.get_hall(session, hall_id)
    day = clock.today(settings)
    is_open, reason = await hall_service.open_state(session, settings, hall)
    cats = (await halls.categories(session, [hall_id]))[hall_id]
    waiting = await tickets.waiting_counts(session, [hall_id], day)
    hall_counters = await counters.in_hall(session, hall_id)
    serving = await counters.open_per_category(session, hall_id)
    current = await tickets.by_ids(session, [c.current_ticket_id for c in hall_counters if c.current_ticket_id])
    categories = []
    for c in cats:
        n = waiting.get((hall_id, c.code), 0)
        avg = await tickets.average_service_seconds(session, hall_id, c.code)
        # No estimate without a service-time history, or while no open counter serves the category.
        estimate = round(n * avg / serving[c.code], 1) if avg is not None and serving.get(c.code) else None
        categories.append(CategoryLive(code=c.code, name=c.name, waiting=n, estimated_wait_seconds=estimate))
    return HallLive(
        hall_id=hall.id, name=hall.name, open=is_open, open_reason=reason, categories=categories,
        counters=[CounterLive(id=c.id, number=c.number, status=c.status,
                              current_number=current[c.current_ticket_id].number if c.current_ticket_id in current
                              else None,
                              current_status=current[c.current_ticket_id].status if c.current_ticket_id in current
                              else None) for c in hall_counters],
        recent_calls=[CallRead(number=n, counter_number=cn, called_at=at)
                      for n, cn, at in await repository.recent_calls(session, hall_id, day)])


async def nearest(session: AsyncSession, settings: Settings, latitude: float, longitude: float,
                  item_code: str | None, limit: int) -> list[NearbyHall]:
    """Open halls (that handle the item, if given), ranked by travel plus estimated wait."""
    candidates = await halls.all_halls(session)
    if item_code:
        serving = await repository.halls_serving_item(session, item_code)
        candidates = [h for h in candidates if h.id in serving]
    day = clock.today(settings)
    waiting = await tickets.waiting_counts(session, [h.id for h in candidates], day)
    open_counters = await repository.open_counters(session)
    out = []
    for hall in candidates:
        is_open, _ = await hall_service.open_state(session, settings, hall)
        if not is_open:
            continue
        km = haversine_km(latitude, longitude, hall.latitude, hall.longitude)
        n = sum(v for (h, _), v in waiting.items() if h == hall.id)
        avg = await tickets.average_service_seconds(session, hall.id)
        wait_min = round(n * avg / max(1, open_counters.get(hall.id, 0)) / 60, 1) if avg is not None else None
        score = round(km * TRAVEL_MINUTES_PER_KM + (wait_min or 0.0), 1)
        wait_text = f"about {wait_min:g} min wait" if wait_min is not None else "no wait estimate yet"
        out.append(NearbyHall(hall_id=hall.id, name=hall.name, address=hall.address, distance_km=round(km, 2),
                              waiting=n, estimated_wait_minutes=wait_min, score_minutes=score,
                              reason=f"{km:.1f} km (~{km * TRAVEL_MINUTES_PER_KM:.0f} min travel), {n} waiting, "
                                     f"{wait_text}"))
    out.sort(key=lambda h: (h.score_minutes, h.distance_km))
    return out[:limit]


def _avg(total: float | None, n: int) -> float | None:
    return round(float(total) / n, 1) if total is not None and n else None


async def day_stats(session: AsyncSession, day: dt.date, hall_id: uuid.UUID | None = None) -> CityStats:
    """Statistics of a day per hall, and their city-wide roll-up (averages weighted by counts)."""
    all_halls = await halls.all_halls(session)
    if hall_id is not None:
        all_halls = [await hall_service.get_hall(session, hall_id)]
    ids = {h.id for h in all_halls}
    rows = {h: r for h, r in (await repository.day_stats(session, day)).items() if h in ids}
    booked = await appointments.count_on(session, list(ids), day)
    missed = await appointments.missed_on(session, list(ids), day)
    per_hall = []
    for h in sorted(all_halls, key=lambda h: h.name):
        r = rows.get(h.id, {})
        per_hall.append(HallDayStats(
            hall_id=h.id, name=h.name, day=day, tickets=r.get("tickets", 0), appointments=booked.get(h.id, 0),
            served=r.get("served", 0), no_shows=r.get("no_shows", 0), missed_appointments=missed.get(h.id, 0),
            average_wait_seconds=round(float(r["wait"]), 1) if r.get("wait") is not None else None,
            average_service_seconds=round(float(r["service"]), 1) if r.get("service") is not None else None,
            ratings=r.get("ratings", 0),
            average_rating=round(float(r["rating"]), 2) if r.get("rating") is not None else None))

    def total(key: str) -> float:
        return sum(float(r.get(key) or 0) for r in rows.values())

    ratings = sum(s.ratings for s in per_hall)
    served = sum(s.served for s in per_hall)
    return CityStats(
        day=day, halls=len(per_hall), tickets=sum(s.tickets for s in per_hall),
        appointments=sum(s.appointments for s in per_hall), served=served,
        no_shows=sum(s.no_shows for s in per_hall), missed_appointments=sum(s.missed_appointments for s in per_hall),
        average_wait_seconds=_avg(total("wait_sum"), int(total("called"))),
        average_service_seconds=_avg(total("service_sum"), served), ratings=ratings,
        average_rating=_avg(total("rating_sum"), ratings) if ratings else None, per_hall=per_hall)


async def publish_stats(session: AsyncSession, settings: Settings) -> int:
    """Publish today's figures of every hall whose figures changed since its last event
    (`queue.hall.stats_updated`, for live dashboards); quiet halls say nothing. Runs with the
    sweep; one replica at a time. Returns how many halls were published."""
    if not await repository.try_stats_lock(session):
        return 0
    day = clock.today(settings)
    city = await day_stats(session, day)
    published = await repository.published_digests(session, day)
    waiting = await tickets.waiting_counts(session, [s.hall_id for s in city.per_hall], day)
    sent = 0
    for s in city.per_hall:
        figures = HallStatsV1(
            hall_id=s.hall_id, day=day, tickets=s.tickets, appointments=s.appointments, served=s.served,
            no_shows=s.no_shows, missed_appointments=s.missed_appointments,
            waiting=sum(n for (h, _), n in waiting.items() if h == s.hall_id),
            average_wait_seconds=s.average_wait_seconds, average_service_seconds=s.average_service_seconds,
            ratings=s.ratings, average_rating=s.average_rating, at=clock.now())
        digest = hashlib.sha256(figures.model_dump_json(exclude={"at"}).encode()).hexdigest()
        if published.get(s.hall_id, "") == digest or (s.hall_id not in published and not (
                s.tickets or s.appointments or s.missed_appointments)):
            continue
        await outbox.add(session, make_event("queue", HALL_STATS_UPDATED, figures, subject=str(s.hall_id)))
        await repository.remember_published(session, s.hall_id, day, digest)
        sent += 1
    return sent
