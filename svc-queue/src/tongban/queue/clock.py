"""Local time of the halls, and the settings as a route dependency."""

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from tongban.queue.config import Settings
from tongban.shared import clock


def now() -> dt.datetime:
    return clock.now()


def local(settings: Settings, at: dt.datetime | None = None) -> dt.datetime:
    return (at or now()).astimezone(ZoneInfo(settings.timezone))


def today(settings: Settings) -> dt.date:
    return local(settings).date()


def at_local(settings: Settings, day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=ZoneInfo(settings.timezone))


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(_settings)]
