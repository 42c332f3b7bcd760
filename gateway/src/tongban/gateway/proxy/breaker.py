"""A circuit breaker per upstream, so a service that is down costs callers nothing but a quick 503.

closed: requests pass; `failures` failures in a row (connect errors, timeouts, 502/503/504)
open it. open: every request is answered 503 at once until `cooldown` has passed. half-open:
one request is let through to try; success closes the circuit, failure opens it again.
"""

from __future__ import annotations

import time


class CircuitBreaker:
    def __init__(self, failures: int, cooldown: float) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.failures = 0
        self.opened_at: float | None = None
        self.trial_running = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "open" if time.monotonic() - self.opened_at < self.cooldown else "half-open"

    def allow(self) -> float:
        """0 when a request may go to the upstream, else seconds until one may try."""
        if self.opened_at is None:
            return 0.0
        waited = time.monotonic() - self.opened_at
        if waited < self.cooldown:
            return self.cooldown - waited
        if self.trial_running:         # half-open: one trial at a time
            return 1.0
        self.trial_running = True
        return 0.0

    def succeeded(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial_running = False

    def failed(self) -> None:
        self.failures += 1
        if self.trial_running or self.failures >= self.threshold:
            self.opened_at = time.monotonic()
            self.trial_running = False

    def abandoned(self) -> None:
        """The trial ended without telling (the client left): let the next request try."""
        self.trial_running = False
