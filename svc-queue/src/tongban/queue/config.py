from tongban.shared.config import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("QUEUE_")

    # Halls keep local time: opening hours, ticket days and slot times are read in this zone.
    timezone: str = "Asia/Shanghai"
    booking_window_days: int = 14
    hold_minutes: int = 10
    # No-show penalty: `no_show_limit` no-shows within `no_show_window_days` → no booking for
    # `no_show_penalty_days` after the last one.
    no_show_limit: int = 3
    no_show_window_days: int = 30
    no_show_penalty_days: int = 7
    checkin_early_minutes: int = 30
    # The reminder event (queue.appointment.reminded) goes out this long before the slot.
    reminder_hours: int = 24
    # A remote ticket holder is told (queue.ticket.approaching) once this few people are ahead.
    approach_position: int = 3
