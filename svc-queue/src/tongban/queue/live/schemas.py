import datetime as dt
import uuid

from pydantic import BaseModel


class CategoryLive(BaseModel):
    code: str
    name: str
    waiting: int
    estimated_wait_seconds: float | None


class CounterLive(BaseModel):
    id: uuid.UUID
    number: str
    status: str
    current_number: str | None
    current_status: str | None


class CallRead(BaseModel):
    number: str
    counter_number: str | None
    called_at: dt.datetime


class HallLive(BaseModel):
    hall_id: uuid.UUID
    name: str
    open: bool
    open_reason: str
    categories: list[CategoryLive]
    counters: list[CounterLive]
    recent_calls: list[CallRead]


class NearbyHall(BaseModel):
    hall_id: uuid.UUID
    name: str
    address: str
    distance_km: float
    waiting: int
    estimated_wait_minutes: float | None
    score_minutes: float
    reason: str


class HallDayStats(BaseModel):
    hall_id: uuid.UUID
    name: str
    day: dt.date
    tickets: int
    appointments: int
    served: int
    no_shows: int
    missed_appointments: int = 0
    average_wait_seconds: float | None
    average_service_seconds: float | None
    ratings: int
    average_rating: float | None


class CityStats(BaseModel):
    day: dt.date
    halls: int
    tickets: int
    appointments: int
    served: int
    no_shows: int
    missed_appointments: int = 0
    average_wait_seconds: float | None
    average_service_seconds: float | None = None
    ratings: int = 0
    average_rating: float | None
    per_hall: list[HallDayStats]
