from pydantic import Field, SecretStr, model_validator

from tongban.gateway.wechat.simulator import DEV_APPS as DEV_WECHAT_APPS
from tongban.shared.config import ServiceSettings, development, secret_or_dev, service_config

DEV_PASSPHRASE = "dev-only-change-me"
UPSTREAMS = ("catalog", "cases", "credentials", "queue", "interop")


class Settings(ServiceSettings):
    model_config = service_config("GATEWAY_")

    environment: str = "development"
    catalog_url: str = "http://127.0.0.1:8001"
    cases_url: str = "http://127.0.0.1:8002"
    credentials_url: str = "http://127.0.0.1:8003"
    queue_url: str = "http://127.0.0.1:8004"
    interop_url: str = "http://127.0.0.1:8005"
    access_token_ttl: int = 600
    refresh_token_ttl: int = 30 * 24 * 3600
    # A rotated refresh token presented again this soon, while its successor is unused, gets the
    # same answer (several pages refreshing at once); later it is a reuse (token/grace.py). 0: none.
    refresh_grace_seconds: float = Field(default=10.0, ge=0, le=60)
    # Encrypts the signing keys' private halves at rest (PKCS#8, BestAvailableEncryption).
    # Required outside TONGBAN_ENV=development.
    key_passphrase: SecretStr | None = None
    upstream_timeout: float = 30.0
    # Failed logins (protection/limits.py): per account at one address a back-off (free tries,
    # then `login_backoff_seconds` doubling up to `login_lockout_seconds`); per account from every
    # address a short lock only (`login_account_lockout_seconds`: the owner elsewhere waits at most
    # that); per client address over every account, `login_lockout_seconds`.
    login_free_failures_per_address: int = 3
    login_backoff_seconds: float = 1.0
    login_max_failures_per_account: int = 10
    login_account_lockout_seconds: float = 60.0
    login_max_failures_per_ip: int = 50
    login_failure_window_seconds: float = 900.0
    login_lockout_seconds: float = 900.0
    # Self-registrations per client address within the window (each costs an argon2 hash).
    registrations_per_ip: int = 5
    registration_window_seconds: float = 3600.0
    # argon2 (64 MiB each) at once per process, and requests allowed to wait for a slot; the rest
    # are answered 503 server_busy with Retry-After (protection/hashing.py).
    password_hash_slots: int = 2
    password_hash_queue: int = 16
    # Proxied requests per caller (token subject, else client address): a token bucket per process,
    # shared with the other processes every `rate_limit_share_seconds` (protection/gossip.py).
    rate_limit_per_second: float = 20.0
    rate_limit_burst: float = 60.0
    # How often each process tells the others which callers it let through (the limit is shared).
    rate_limit_share_seconds: float = 1.0
    # Circuit breaker per upstream: this many failures in a row (connect errors, timeouts, 502-504
    # not in the service's own problem+json) open it; it answers 503 at once for the cool-down,
    # then lets one request try. Short: a service back from a blip gets traffic within a second.
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 1.0
    connect_timeout: float = 2.0
    # The proxies in front whose X-Forwarded-For names the client (comma-separated addresses or
    # networks, uvicorn's syntax; "" trusts none, as at the edge). Under the gateway's protocol
    # this alone decides, on both ways; served otherwise, pass the same to --forwarded-allow-ips.
    trusted_proxies: str = ""
    # Aggregated OpenAPI at /docs: how long the services' documents are cached.
    openapi_cache_seconds: float = 30.0
    # Revoked access tokens arrive by event; the database is re-read this often in case NATS was away.
    revocation_resync_seconds: float = 30.0
    # Real-name providers (realname/provider.py): the local stand-in (never in production), and
    # the real ones' Ed25519 public keys, raw and base64-encoded, by provider name.
    realname_local_provider: bool | None = None   # None: on, except in production
    # The local stand-in's signing seed: development and tests only (the provider is refused in production).
    realname_local_seed: SecretStr = Field(default=SecretStr("dev-only-realname-provider"),
                                           json_schema_extra={"development_only": True})
    realname_provider_keys: dict[str, str] = {}
    # WeChat (wechat/client.py): the API's base URL (make run and the tests: the local simulator,
    # wechat/simulator.py) and the city's mini-programs, appid -> AppSecret (JSON). Outside
    # development none is configured unless given; in development the demo mini-programs.
    wechat_api_url: str = "https://api.weixin.qq.com"
    wechat_apps: dict[str, SecretStr] = {}
    wechat_timeout: float = 5.0

    # Replaces the base class's check of the same name: the gateway issues the tokens, so it
    # verifies them with its own keys from its own database, not with a JWKS from elsewhere.
    @model_validator(mode="after")
    def _needs_keys(self) -> "Settings":
        self.key_passphrase = secret_or_dev(self.key_passphrase, "GATEWAY_KEY_PASSPHRASE", DEV_PASSPHRASE)
        if self.environment == "production" and self.key_passphrase.get_secret_value() == DEV_PASSPHRASE:
            raise ValueError("set GATEWAY_KEY_PASSPHRASE: the development passphrase is refused in production")
        if not self.wechat_apps and development() and self.environment != "production":
            self.wechat_apps = {appid: SecretStr(secret) for appid, secret in DEV_WECHAT_APPS.items()}
        dev_secrets = set(DEV_WECHAT_APPS.values())
        if self.environment == "production" and any(s.get_secret_value() in dev_secrets for s in self.wechat_apps.values()):
            raise ValueError("set GATEWAY_WECHAT_APPS: the development WeChat secrets are refused in production")
        if self.realname_local_provider is None:
            self.realname_local_provider = self.environment != "production"
        elif self.environment == "production" and self.realname_local_provider:
            raise ValueError("GATEWAY_REALNAME_LOCAL_PROVIDER signs any face: it is refused in production")
        positive = ("access_token_ttl", "refresh_token_ttl", "upstream_timeout", "connect_timeout",
                    "rate_limit_per_second", "rate_limit_burst", "breaker_failures", "breaker_cooldown_seconds",
                    "login_max_failures_per_account", "login_max_failures_per_ip", "revocation_resync_seconds",
                    "login_free_failures_per_address", "login_backoff_seconds", "login_account_lockout_seconds",
                    "registrations_per_ip", "registration_window_seconds", "password_hash_slots",
                    "rate_limit_share_seconds", "wechat_timeout")
        if bad := [name for name in positive if getattr(self, name) <= 0]:
            raise ValueError(f"must be positive: {', '.join(bad)}")
        return self

    @property
    def upstreams(self) -> dict[str, str]:
        """Base URL of every service the gateway forwards to, by the name in `/api/v1/<name>/`."""
        return {name: getattr(self, f"{name}_url") for name in UPSTREAMS}
