from typing import Any

from tongban.shared.errors import AppError


class ScheduleInvalid(AppError):
    """An official schedule that cannot be right: each offending date is named."""

    code, status, title = "schedule_invalid", 422, "The holiday schedule is not valid"

    def __init__(self, year: int, problems: list[dict[str, Any]]) -> None:
        dates = ", ".join(p["date"] for p in problems[:10] if p.get("date"))
        super().__init__(f"the {year} schedule was not imported: {problems[0]['problem']}"
                         + (f" ({dates})" if dates else ""), errors=problems)


class ScheduleExists(AppError):
    code, status, title = "schedule_exists", 422, "This year's schedule is already imported"

    def __init__(self, year: int, revision: int) -> None:
        super().__init__(f"the {year} schedule is already imported (revision {revision}); to correct it, "
                         f"PUT /api/v1/cases/calendar/years/{year}", year=year, revision=revision)


class ScheduleNotFound(AppError):
    code, status, title = "schedule_not_found", 404, "No schedule imported for this year"
