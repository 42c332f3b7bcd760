"""svc-cases as svc-credentials asks it, as itself (the service token): does a case exist, and
at which department and hall is it handled? A consent taken at a counter is bound to such a case.

The http client is made in the lifespan (main.py, `CREDENTIALS_CASES_URL`) and lives on
`app.state.cases`; without it, counter consents are refused (503): nothing can be bound.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from tongban.shared.errors import AppError
from tongban.shared.service_auth import UpstreamUnavailable

API = "/api/v1/cases"


class CasesNotConfigured(AppError):
    code, status, title = "cases_not_configured", 503, "svc-credentials cannot ask svc-cases about cases"


@dataclass(frozen=True)
class CaseFacts:
    id: uuid.UUID
    department: str
    hall: str | None
    applicant_id: str | None


class CasesClient:
    def __init__(self, http: httpx.AsyncClient | None) -> None:
        self.http = http

    async def case(self, case_id: uuid.UUID) -> CaseFacts | None:
        """The case's department and hall, or None when svc-cases knows no such case."""
        if self.http is None:
            raise CasesNotConfigured("set CREDENTIALS_CASES_URL: a counter consent must name an existing case")
        try:
            resp = await self.http.get(f"{API}/cases/{case_id}")
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"svc-cases did not answer: {type(exc).__name__}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise UpstreamUnavailable(f"svc-cases answered {resp.status_code} to GET /cases/{case_id}")
        body: dict[str, Any] = resp.json()
        try:
            return CaseFacts(id=uuid.UUID(str(body["id"])), department=str(body["department"]),
                             hall=str(body["hall"]) if body.get("hall") else None,
                             applicant_id=str(body["applicant_id"]) if body.get("applicant_id") else None)
        except (KeyError, ValueError) as exc:
            raise UpstreamUnavailable(f"svc-cases answered an unreadable case: {exc}") from exc
