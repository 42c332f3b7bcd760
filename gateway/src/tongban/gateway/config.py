from pydantic import SecretStr, model_validator

from tongban.shared.config import ServiceSettings, service_config

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
    # Encrypts the signing keys' private halves at rest (PKCS#8, BestAvailableEncryption).
    key_passphrase: SecretStr = SecretStr(DEV_PASSPHRASE)
    upstream_timeout: float = 30.0

    # Replaces the base class's check of the same name: the gateway issues the tokens, so it
    # verifies them with its own keys from its own database, not with a JWKS from elsewhere.
    @model_validator(mode="after")
    def _needs_keys(self) -> "Settings":
        if self.environment == "production" and self.key_passphrase.get_secret_value() == DEV_PASSPHRASE:
            raise ValueError("set GATEWAY_KEY_PASSPHRASE: the development passphrase is refused in production")
        if self.access_token_ttl <= 0 or self.upstream_timeout <= 0:
            raise ValueError("access_token_ttl and upstream_timeout must be positive")
        return self

    @property
    def upstreams(self) -> dict[str, str]:
        """Base URL of every service the gateway forwards to, by the name in `/api/v1/<name>/`."""
        return {name: getattr(self, f"{name}_url") for name in UPSTREAMS}
