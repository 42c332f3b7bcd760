from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings

from tongban.shared.config import ServiceSettings, secret_or_dev, service_config

DEV_PASSPHRASE = "dev-only-change-me"


class KeyStoreSettings(BaseSettings):
    """The key store's settings alone: what the demo-data loader reads (it runs in `make run`'s
    launcher, which has no JWKS or database variables of this service)."""

    model_config = service_config("CREDENTIALS_")

    # The service's data folder: a persistent, backed-up volume in production.
    data_dir: Path = Path(".data") / "credentials"
    # The file key store's folder (issuers' private keys, one encrypted 0600 file each); default
    # `<data_dir>/keys`. An HSM-backed KeyStore can replace it.
    key_dir: Path | None = None
    # Encrypts the private keys at rest; required outside TONGBAN_ENV=development.
    key_passphrase: SecretStr | None = None

    @model_validator(mode="after")
    def _key_store(self) -> "KeyStoreSettings":
        if self.key_dir is None:
            self.key_dir = self.data_dir / "keys"
        self.key_passphrase = secret_or_dev(self.key_passphrase, "CREDENTIALS_KEY_PASSPHRASE", DEV_PASSPHRASE)
        return self


class Settings(ServiceSettings, KeyStoreSettings):
    model_config = service_config("CREDENTIALS_")
    # Presentations (亮证 QR codes) live this long.
    presentation_ttl_seconds: int = 300
    # Where verifiers fetch keys and status lists (put into presentations for offline checks).
    public_base_url: str = "/api/v1/credentials"
    # Who signs the published status lists (the platform operator, 政务服务数据管理局): an issuer
    # with an Ed25519 key of its own, made on first use and published with the others (GET /keys).
    status_list_signer_code: str = "114420000073000016"
    status_list_signer_name: str = "中山市政务服务和数据管理局（电子证照状态列表）"
    # The platform's time-stamping authority for seal applications (RFC 3161-shaped tokens): an
    # issuer with a key of its own, made on first use and published in GET /keys.
    tsa_code: str = "114420000073000029"
    tsa_name: str = "中山市政务服务和数据管理局（时间戳服务）"
    # A partner city's status lists (深中互认): how long to wait for one, and how long a good copy is kept.
    partner_fetch_timeout_seconds: float = 2.0
    partner_status_list_ttl_seconds: float = 60.0
    # This city's region code (GB/T 2260): what a partner's consent token must name as the city asked.
    region_code: str = "442000"
    # Who signs our residents' consents for a partner city (深中通办, holder access): the platform,
    # with a key of its own made at startup and published in GET /keys (partners trust it from there).
    consent_signer_code: str = "114420000073000037"
    consent_signer_name: str = "中山市政务服务和数据管理局（跨城授权）"
    # svc-cases' base URL (CREDENTIALS_CASES_URL): a counter consent is bound to a case it knows.
    cases_url: str | None = None
    cases_timeout_seconds: float = 5.0
