import datetime as dt

from tongban.shared.errors import AppError


class UnknownCalendarDate(AppError):
    """Neither chinese-calendar nor the override table knows whether a date is a working day:
    a deadline computed by guessing would be a legal error, so the request fails loudly."""

    code, status, title = "calendar_date_unknown", 503, "The working-day calendar does not know this date"

    def __init__(self, day: dt.date) -> None:
        super().__init__(f"{day.isoformat()} is not in chinese-calendar and has no override: an admin must "
                         f"add it (PUT /api/v1/cases/workdays/{day.isoformat()})", date=day.isoformat())
