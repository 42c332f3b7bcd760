"""Facts from svc-cases' own cases, kept from its events like any read copy (the case transaction
costs nothing more; the inbox makes a redelivery change nothing twice; the events come through
svc-cases' one consumer of its own case events, tongban.cases.consumers.payment):

- **Company registration** (`source: registry`): the approval of a case whose result is a business
  licence (营业执照: 企业设立登记, 变更登记, 跨市迁移登记（迁入）) carries the company's registered
  particulars — the form with the department's licence fields over it. That is where the platform
  learns of a registration or a change first and fully: svc-credentials' `licence.issued` names
  the holder and type only, and svc-interop's migrations end in such a case. From it: the
  establishment date (`company.established_on`, whence `company.age_years`), the registered
  district (from the address), the industry code and size when the form has them.
- **Cases completed** (`source: case`): `case.completed.<item code>` holds while the subject has a
  completed case of that item (a revocation takes it away unless another remains).

Each change re-evaluates that subject's 免申即享 policies only (service.set_facts)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.benefit import repository, service
from tongban.shared.contracts import cases as contract
from tongban.shared.events.envelope import Envelope

SOURCE = "system:cases"
BUSINESS_LICENCE = "11100000000019238J001"     # 营业执照
COUNTY = re.compile(r"[\u4e00-\u9fff]{1,4}?[区县](?!街道)")          # 南山区 in 深圳市南山区粤海街道
DISTRICT = re.compile(r"[\u4e00-\u9fff]{1,6}?(?:街道|镇)")           # 石岐街道, 东区街道, 小榄镇
SETTLED = (contract.CASE_COMPLETED, contract.CASE_REVOKED)


def district_of(address: str) -> str | None:
    """The 街道 or 镇 an address is registered in: after the city (…市) and any county (…区, …县)."""
    rest = address.rsplit("市", 1)[-1]
    if (county := COUNTY.match(rest)) is not None:
        rest = rest[county.end():]
    found = DISTRICT.match(rest)
    return found.group(0) if found else None


def registration_facts(data: dict[str, Any], approved_on: dt.date) -> dict[str, Any]:
    """The registered particulars a business-licence case's approval carries, as facts."""
    facts: dict[str, Any] = {}
    established = data.get("established_on")
    try:
        day = dt.date.fromisoformat(established) if isinstance(established, str) else None
    except ValueError:
        day = None
    if day is not None and day <= approved_on:
        facts["company.established_on"] = day.isoformat()
    district = data.get("district")
    if not isinstance(district, str) or not 0 < len(district) <= 40:
        district = district_of(next((data[k] for k in ("address", "new_address", "premises")
                                     if isinstance(data.get(k), str)), ""))
    if district:
        facts["company.district"] = district
    for name in ("industry_code", "size"):
        value = data.get(name)
        if isinstance(value, str) and 0 < len(value) <= 40:
            facts[f"company.{name}"] = value
    return facts


async def on_case_event(session: AsyncSession, event: Envelope) -> None:
    if event.type == contract.CASE_APPROVED:
        approved = contract.CaseApprovedV1.model_validate(event.data)
        if approved.result_licence_type_code != BUSINESS_LICENCE or approved.applicant_type != "company":
            return
        facts = registration_facts(approved.data, approved.approved_at.date())
        if facts and len(approved.applicant_id) == 18:
            await service.set_facts(session, approved.applicant_id, "company", facts, "registry", SOURCE,
                                    name=str(approved.data.get("company_name") or approved.applicant_name)[:200])
    elif event.type in SETTLED:
        moved = contract.CaseTransitionedV1.model_validate(event.data)
        case = await repository.settled_case(session, moved.case_id)
        if case is None or len(case.applicant_id) != 18 or case.applicant_type not in ("company", "person"):
            return
        held = case.held
        if not held and await repository.subject(session, case.applicant_id) is None:
            return   # nothing to take away from a subject never heard of
        await service.set_facts(session, case.applicant_id, case.applicant_type,
                                {f"case.completed.{case.basic_code}": True if held else None}, "case", SOURCE)


# The three steps that say something of a subject's facts (not every step of every case): heard
# through svc-cases' one consumer of its own case events (tongban.cases.consumers.payment).
HEARS = frozenset({contract.CASE_APPROVED, *SETTLED})
