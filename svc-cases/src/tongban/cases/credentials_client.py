"""svc-credentials as svc-cases uses it (免证办 and rules on the applicant's licences).

Two kinds of call: as the person at the other end of the request (the applicant's own bearer
token, forwarded: their consent, their wallet; or a clerk's: the consent a walk-in applicant gave at
the counter) and as svc-cases itself (the service token: recording the department's licence use). The http client is
made in the lifespan (main.py) and lives on `app.state.credentials`.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from tongban.cases.material.errors import CredentialsNotConfigured, LicenceNotUsable
from tongban.shared import clock
from tongban.shared.service_auth import UpstreamUnavailable

API = "/api/v1/credentials"
CONSENT_DAYS = 30      # a consent given with a submission covers the handling of the case
# Refusals that say svc-cases itself is not let to record uses (its client's scopes or the service
# role not recognised): nothing the applicant can fix.
PLATFORM_REFUSALS = frozenset({"no_department", "insufficient_scope", "invalid_token"})


@dataclass(frozen=True)
class LicenceUse:
    identifier: str
    use_id: int
    status: str


class CredentialsClient:
    def __init__(self, http: httpx.AsyncClient | None) -> None:
        self.http = http

    async def _call(self, method: str, path: str, user_auth: str | None = None, **kw: Any) -> httpx.Response:
        if self.http is None:
            raise CredentialsNotConfigured("svc-cases has no CASES_CREDENTIALS_URL: licences cannot be checked")
        if user_auth is not None:  # as the applicant: their token, not the service's
            kw |= {"auth": None, "headers": {**kw.get("headers", {}), "Authorization": user_auth}}
        try:
            resp = await self.http.request(method, API + path, **kw)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"svc-credentials did not answer: {type(exc).__name__}") from exc
        if resp.status_code >= 500 or resp.status_code == 401:
            raise UpstreamUnavailable(f"svc-credentials answered {resp.status_code} to {method} {path}")
        return resp

    async def give_consent(self, user_auth: str, type_code: str, case_id: uuid.UUID, department: str,
                           field: str, holder_id: str | None = None, key: str | None = None) -> uuid.UUID:
        """The applicant's consent, given with the submission, for this case and department only.
        With `holder_id`, `user_auth` is a clerk's token: the consent the walk-in applicant gave at
        the counter, recorded at svc-credentials as witnessed by that clerk. `key` (Idempotency-Key)
        names the attempt: a retried call gives the same consent, a new attempt a new one."""
        expires = clock.now() + dt.timedelta(days=CONSENT_DAYS)
        body = {"licence_type_code": type_code, "case_id": str(case_id), "department": department,
                "expires_at": expires.isoformat()} | ({"holder_id": holder_id} if holder_id else {})
        resp = await self._call("POST", "/consents", user_auth, headers={"Idempotency-Key": key or f"{case_id}:{type_code}"},
                                json=body)
        if resp.status_code != 201:
            raise LicenceNotUsable(field, f"svc-credentials refused the consent: {_why(resp)}")
        return uuid.UUID(resp.json()["id"])

    async def use(self, holder_id: str, type_code: str, case_id: uuid.UUID, department: str, purpose: str,
                  field: str, key: str | None = None) -> LicenceUse:
        """Record the handling department's use of the licence (as svc-cases, naming the department).
        A refusal (no valid licence, no consent, an unknown type) is 422 naming the field; svc-cases
        not being let to record uses (scope, department) is a platform fault: 503, not the applicant's."""
        resp = await self._call("POST", "/licence-uses", headers={"Idempotency-Key": f"{key or f'{case_id}:{type_code}'}:use"},
                                json={"holder_id": holder_id, "licence_type_code": type_code,
                                      "case_id": str(case_id), "purpose": purpose, "department": department})
        if resp.status_code == 201:
            body = resp.json()
            return LicenceUse(body["licence"]["identifier"], body["use"]["id"], body["licence"]["status"])
        problem = _problem(resp)
        if problem.get("code") in PLATFORM_REFUSALS:
            raise UpstreamUnavailable(f"svc-credentials does not let svc-cases record licence uses: {_why(resp)}")
        raise LicenceNotUsable(field, f"svc-credentials refused the use: {problem.get('refusal') or _why(resp)}",
                               refusal=problem.get("refusal"))

    async def verify_presentation(self, qr: str, field: str) -> dict[str, Any]:
        """svc-credentials' verdict on a presentation (亮证; a partner city's is checked against the
        trust list: signature, expiry, replay, validity, the partner's status lists). A presentation
        it cannot read is the applicant's fault (422 naming the field); the verdict itself (valid,
        forged, expired, ...) is the caller's to judge."""
        resp = await self._call("POST", "/verifications", json={"presentation": qr})
        if resp.status_code != 200:
            raise LicenceNotUsable(field, f"svc-credentials could not read the presentation: {_why(resp)}",
                                   refusal="malformed")
        body = resp.json()
        return body if isinstance(body, dict) else {}

    async def withdraw_consent(self, user_auth: str, consent_id: uuid.UUID) -> bool:
        """Withdraw a consent with the token that gave it (an undone submission). False when
        svc-credentials does not let that caller withdraw it; already withdrawn counts as done."""
        resp = await self._call("POST", f"/consents/{consent_id}/withdraw", user_auth)
        return resp.status_code == 200 or _problem(resp).get("code") == "consent_already_revoked"

    async def valid_licences(self, user_auth: str) -> list[dict[str, Any]]:
        """The applicant's own valid licences (their wallet, read with their token)."""
        resp = await self._call("GET", "/me/licences", user_auth, params={"limit": 200})
        if resp.status_code != 200:
            return []  # not a holder (a clerk, say): no licences to count on
        return [x for x in resp.json()["items"] if x.get("status") == "valid" and not x.get("superseded_by")]

    async def seal_document(self, document_id: uuid.UUID, title: str, reference: str, department: str,
                            pdf: bytes) -> SealedDocument:
        """Have the department's seal pressed on a notice or decision (as svc-cases; the document id
        is the Idempotency-Key, so a retry gets the same sealed PDF). Any refusal is the platform's
        fault, not the caller's: 503."""
        resp = await self._call("POST", "/document-seals", headers={"Idempotency-Key": f"document:{document_id}"},
                                json={"document_id": str(document_id), "title": title, "reference": reference,
                                      "department": department, "pdf": base64.b64encode(pdf).decode()})
        if resp.status_code != 201:
            raise UpstreamUnavailable(f"svc-credentials did not seal the document: {_why(resp)}")
        body = resp.json()
        return SealedDocument(uuid.UUID(body["seal_id"]), body["seal_name"], body["seal_use_id"],
                              dt.datetime.fromisoformat(body["sealed_at"]), body["sha256"],
                              base64.b64decode(body["pdf"]))


@dataclass(frozen=True)
class SealedDocument:
    seal_id: uuid.UUID
    seal_name: str
    seal_use_id: int
    sealed_at: dt.datetime
    sha256: str
    pdf: bytes


def _problem(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _why(resp: httpx.Response) -> str:
    p = _problem(resp)
    return str(p.get("detail") or p.get("code") or f"HTTP {resp.status_code}")
