import re

from pydantic import SecretStr, model_validator

from tongban.shared.config import ServiceSettings, development, secret_or_dev, service_config

DEV_PASSPHRASE = "dev-only-change-me"
REGION = re.compile(r"^\d{6}$")


class Settings(ServiceSettings):
    model_config = service_config("INTEROP_")

    environment: str = "development"
    # Our city (GB/T 2260) as partners know it: 442000 Zhongshan, 440300 Shenzhen.
    region_code: str = "442000"
    city_name: str = "中山市"
    # The URL partners call us at (our gateway): signatures cover the target URI the partner
    # used, so verification rebuilds it from this, not from the address the proxy forwarded to.
    public_url: str = "http://127.0.0.1:8000"
    # Encrypts our Ed25519 private keys at rest (PKCS#8, BestAvailableEncryption). Required
    # outside TONGBAN_ENV=development.
    key_passphrase: SecretStr | None = None
    # Client secrets of our OAuth clients at each partner's gateway, by region: {"440300": "..."}.
    partner_secrets: dict[str, SecretStr] = {}
    clock_skew_seconds: int = 300
    delivery_poll_seconds: float = 1.0
    delivery_timeout_seconds: float = 10.0
    delivery_max_attempts: int = 50
    # Our own services, called as svc-interop (service token, see tongban.shared.service_auth).
    # Unset: forwarded cases (cases) or trust and verification (credentials) answer 503.
    cases_url: str | None = None
    credentials_url: str | None = None
    service_call_timeout_seconds: float = 10.0
    # Forwarded cases opened in svc-cases at once, at most (the others wait their turn here):
    # httpx's pool checks every pooled connection on each request (a poll syscall each), so more
    # connections than svc-cases can serve at once only cost CPU.
    cases_concurrency: int = 8
    # Where partners fetch our svc-credentials' public, signed status lists (our gateway; default:
    # public_url). Sent with our issuer keys, so the partner's verifiers can check revocation.
    credentials_public_url: str | None = None
    # How often the worker pulls each partner's issuer keys (into our trust list) and items.
    partner_sync_seconds: float = 3600.0
    # Partner base URLs (and the URLs a partner publishes under them) may name loopback or private
    # addresses: only for partners on the same machine or network (`make run-two-cities`, tests).
    # Unset: allowed in development (TONGBAN_ENV=development) only.
    allow_private_partner_urls: bool | None = None
    # More base URLs a partner may publish URLs under, by region ({"440300": ["https://..."]}),
    # for a partner that serves its status lists elsewhere than at its registered base URL.
    partner_url_bases: dict[str, list[str]] = {}

    @model_validator(mode="after")
    def _checks(self) -> "Settings":
        self.key_passphrase = secret_or_dev(self.key_passphrase, "INTEROP_KEY_PASSPHRASE", DEV_PASSPHRASE)
        if self.environment == "production" and self.key_passphrase.get_secret_value() == DEV_PASSPHRASE:
            raise ValueError("set INTEROP_KEY_PASSPHRASE: the development passphrase is refused in production")
        if self.allow_private_partner_urls is None:
            self.allow_private_partner_urls = development()
        if not REGION.match(self.region_code):
            raise ValueError("INTEROP_REGION_CODE must be a 6-digit GB/T 2260 region code")
        self.public_url = self.public_url.rstrip("/")
        self.credentials_public_url = (self.credentials_public_url or self.public_url).rstrip("/")
        return self
