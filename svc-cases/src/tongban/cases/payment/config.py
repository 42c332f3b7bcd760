"""Where the payment providers are and how to check what they sign.

`CASES_PAYMENT_CONFIG` names a JSON file: `base_url` of the providers' API (the local provider's
under `make run` and in tests) and, per provider, our merchant ids and the provider's public key
(WeChat Pay also the APIv3 key it encrypts resources with). The local provider writes this file
for its own keys (payment/simulator.py); in production it holds the real providers' keys. Unset:
orders are still opened, but paying, querying and refunding answer 503 until it is configured.

Read from the environment (not app.state) because the periodic follower and the event consumer
run where only a sessionmaker is handed to them."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tongban.cases.payment import providers

ORDER_TTL_HOURS = 72            # an unpaid order expires after three days (the applicant is told)


@dataclass(frozen=True)
class PaymentConfig:
    base_url: str | None
    adapters: dict[str, providers.Provider] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def load() -> PaymentConfig:
    """The configuration CASES_PAYMENT_CONFIG names (read once it exists; none until then)."""
    path = os.environ.get("CASES_PAYMENT_CONFIG")
    if not path or not Path(path).is_file():
        return PaymentConfig(None)
    return _read(path)


@functools.cache
def _read(path: str) -> PaymentConfig:
    raw = json.loads(Path(path).read_text())
    return PaymentConfig(raw.get("base_url"), providers.from_config(raw), raw)
