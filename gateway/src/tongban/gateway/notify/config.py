"""Notification settings (`GATEWAY_NOTIFY_*`), read apart from the gateway's own so the feature
stays in its folder: quiet hours by default, rate limits, retries, and which providers send."""

import datetime as dt

from pydantic_settings import BaseSettings

from tongban.shared.config import service_config


class NotifySettings(BaseSettings):
    model_config = service_config("GATEWAY_NOTIFY_")

    # Outside channels: `local` records what would be sent (notify_sink, readable at
    # /api/v1/gateway/notify/sink); a deployment names its provider adapter here.
    sms_provider: str = "local"
    wechat_provider: str = "local"
    # Quiet hours (Beijing time) for accounts that set none: non-urgent SMS and WeChat wait until
    # they end (the in-app inbox is silent and gets everything at once).
    quiet_start: dt.time = dt.time(22, 0)
    quiet_end: dt.time = dt.time(8, 0)
    # Non-urgent messages per account and channel per hour; more wait for the window to move on.
    per_hour: int = 5
    # Delivery attempts before a delivery is failed for good (the dead letters), and the first back-off.
    max_attempts: int = 5
    retry_seconds: float = 30.0
    # The dispatcher looks for due deliveries at least this often (it is woken at once by new ones due now).
    poll_seconds: float = 1.0
    # Once woken, how long the dispatcher lets more deliveries gather into its batch.
    gather_seconds: float = 0.05
    batch: int = 200
    # Days before a licence's end that its holder is reminded.
    licence_reminder_days: int = 30
    # Local SMS simulator: numbers it answers with a throttling error (to exercise retries).
    local_failing_numbers: list[str] = []
