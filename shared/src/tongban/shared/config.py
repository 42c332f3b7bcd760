"""Settings base: every service reads its environment through a subclass with its own prefix.

Secrets have no default outside development: a development value is used only when
`TONGBAN_ENV=development` is set explicitly (`make run` and the test suite set it); otherwise a
missing secret stops the service at start, naming the variable to set.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from pydantic import SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_VARIABLE = "TONGBAN_ENV"
S = TypeVar("S", bound=BaseSettings)


def development() -> bool:
    """True only when the environment says so explicitly (TONGBAN_ENV=development)."""
    return os.environ.get(ENV_VARIABLE, "").strip().lower() == "development"


def secret_or_dev(value: SecretStr | None, variable: str, dev_value: str) -> SecretStr:
    """`value`, or in development `dev_value`; otherwise a clear refusal to start."""
    if value is not None and value.get_secret_value():
        return value
    if development():
        return SecretStr(dev_value)
    raise ValueError(f"set {variable} (a secret; there is no default outside {ENV_VARIABLE}=development)")


def load_settings(cls: type[S], service: str, **values: Any) -> S:
    """The service's settings from its environment, or SystemExit with one line per problem (a
    missing secret, a malformed value) instead of a traceback."""
    try:
        return cls(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                             for e in exc.errors())
        raise SystemExit(f"tongban {service}: cannot start: {problems}") from None


class ServiceSettings(BaseSettings):
    """What every service needs. A subclass sets `model_config = service_config("CATALOG_")`,
    so CATALOG_DATABASE_URL, CATALOG_NATS_URL, ... configure svc-catalog."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    # This service's own NATS identity (tongban.shared.events.identity): it may publish only its
    # own subjects; a server with authorization refuses a connection without one.
    nats_user: str | None = None
    nats_password: SecretStr = SecretStr("")
    # Where the gateway publishes its signing keys; a static JWKS (JSON) may be given instead.
    jwks_url: str | None = None
    jwks_json: str | None = None
    token_issuer: str = "tongban-gateway"
    log_level: str = "INFO"
    max_body_bytes: int = 10 * 1024 * 1024
    # Run the outbox relay and the event consumers inside the web process (one process per
    # service, as `make run` does); set false to run them with `python -m tongban.<svc>.worker`.
    run_worker: bool = True
    db_pool_size: int = 10
    # JetStream replicas of the stream this service publishes (3 on a 3-node NATS cluster).
    stream_replicas: int = 1
    # This service's own OAuth client at the gateway, for calls to other services' internal APIs
    # (tongban.shared.service_auth). Unset: the service makes no authenticated calls.
    token_url: str | None = None
    service_client_id: str | None = None
    service_client_secret: str | None = None
    # Revoked access tokens (logout, a revoked delegation, an account switched off) are refused
    # here too: the gateway's `gateway.token.revoked` events, replayed this far back at start
    # (longer than any access token lives).
    revocation_replay_seconds: float = 3600.0

    @model_validator(mode="after")
    def _needs_keys(self) -> "ServiceSettings":
        if not self.jwks_url and not self.jwks_json:
            raise ValueError("set JWKS_URL (the gateway's /.well-known/jwks.json) or JWKS_JSON")
        return self


def service_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore")
