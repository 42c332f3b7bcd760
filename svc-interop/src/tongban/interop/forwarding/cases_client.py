"""Opening a partner's forwarded case in our svc-cases: POST /api/v1/cases/forwarded-cases
(scope `cases:forward`, svc-interop's service token), the partner's message id as the
Idempotency-Key, so a resend of the message, or our own retry, finds the same case.

svc-cases' refusals are translated into the names of the wire contract the partner used
(`item_code`, `form.*`), so the partner's problem names its own field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tongban.shared.errors import AppError, InvalidField
from tongban.shared.idempotency import IdempotencyKeyReused
from tongban.shared.service_auth import UpstreamUnavailable

PATH = "/api/v1/cases/forwarded-cases"
# svc-cases' field names → ours (ForwardedCase).
FIELDS = {"basic_code": "item_code", "implementation_code": "implementation_code",
          "partner_case_number": "case_number", "form_data": "form"}


class CaseRefused(AppError):
    """svc-cases refused the case for a reason that is not one field (e.g. the item takes no cases)."""

    code, status, title = "case_refused", 422, "The case cannot be opened here"


@dataclass(frozen=True)
class OpenedCase:
    id: str
    case_number: str
    state: str
    # svc-cases opened it for this call (201, not an idempotent replay, not a case it already
    # held): no record of ours can name it yet, so the caller need not look for one.
    new: bool = False


def _our_field(field: str) -> str:
    head, _, rest = field.partition(".")
    mapped = FIELDS.get(head, head)
    return f"{mapped}.{rest}" if rest else mapped


async def open_forwarded_case(http: httpx.AsyncClient | None, message_id: str, body: dict[str, Any]) -> OpenedCase:
    """Open (or find again) the case in svc-cases. Raises InvalidField / CaseRefused for the
    partner's mistakes (final), UpstreamUnavailable when svc-cases cannot say (the partner retries)."""
    if http is None:
        raise UpstreamUnavailable("svc-cases is not configured here (INTEROP_CASES_URL)")
    try:
        resp = await http.post(PATH, json=body, headers={"Idempotency-Key": message_id})
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"svc-cases unreachable: {type(exc).__name__}") from exc
    try:
        data = resp.json()
    except ValueError:
        data = {}
    if resp.status_code in (200, 201):
        new = resp.status_code == 201 and resp.headers.get("idempotent-replayed") != "true"
        return OpenedCase(str(data["id"]), str(data["case_number"]), str(data["state"]), new)
    if resp.status_code == 409 and data.get("code") == "case_already_forwarded":
        # The same partner case under another message id (a partner resending with a new id):
        # svc-cases names the case it already opened.
        return OpenedCase(str(data["case_id"]), str(data["case_number"]), "submitted")
    if resp.status_code == 422 and data.get("code") == IdempotencyKeyReused.code:
        # This message id opened another case before (the partner reused it for another message).
        raise IdempotencyKeyReused("this message id was sent before with a different message")
    if resp.status_code == 422:
        errors = data.get("errors") or []
        if errors:
            first = errors[0]
            raise InvalidField(_our_field(str(first.get("field", "body"))), str(first.get("message", "invalid")))
        raise CaseRefused(str(data.get("detail") or "svc-cases refused the case"))
    # 401/403 (our service client is misconfigured), 5xx: not the partner's fault; it retries.
    raise UpstreamUnavailable(f"svc-cases answered {resp.status_code} ({data.get('code')})")
