"""Company migration (企业迁移) between the cities, on the forwarding machinery.

City A: svc-cases approves a company's migration-out case (item 企业跨市迁移登记（迁出）); its
`cases.case.approved` event (with the form: target_city, new_address ...) makes an outgoing case
of kind `company_migration` pointing at that svc-cases case, and queues a signed `company.migrate`
to the target city with the company's registration and tax record summary.
City B (`POST /exchange/company-migrations`, `company.migrate` granted): opens the migration-in
case (企业跨市迁移登记（迁入）) in its svc-cases through /forwarded-cases (the company as the
applicant), keeps it as an incoming case of kind `company_migration` and answers 202 with its case
number. From there it is a forwarded case: every step in B's svc-cases goes back as `case.status`,
A keeps B's case number and progress; B keeps A's case number as the partner case number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.db import audit, outbox
from tongban.interop.delivery import service as delivery
from tongban.interop.exchange.service import Inbound
from tongban.interop.forwarding import repository
from tongban.interop.forwarding.models import OutgoingCase
from tongban.interop.forwarding.schemas import CompanyMigration, ForwardAck
from tongban.interop.forwarding.service import Opening, _outgoing_event, held
from tongban.interop.partner import repository as partners
from tongban.shared.contracts.cases import CaseApprovedV1
from tongban.shared.contracts.interop import OUTGOING_CASE_FORWARDED
from tongban.shared.errors import InvalidField
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import InvalidIdentifier, mask_resident_id, normalize_credit_code

EXCHANGE_MIGRATIONS = "/api/v1/interop/exchange/company-migrations"
KIND = "company_migration"
# The provincial standard items (basic codes are the same in every city of the province; svc-catalog's
# seed): a move-out approved here starts a migration; a migration received opens a move-in case.
MIGRATION_OUT_ITEMS = frozenset({"440100162000"})
MIGRATION_IN_ITEM = "440100163000"
REGION = re.compile(r"^\d{6}$")


def company_records(credit_code: str, name: str, approved: CaseApprovedV1) -> dict[str, Any]:
    """The company's registration and tax record summary that travels with the migration.

    SYNTHETIC: no market-regulation register or tax system is connected to this platform, so the
    summary is derived from what svc-cases knows (the approved move-out case, the approving
    department) and, for the figures a register would hold, deterministically from the credit
    code (the same company always gets the same summary). A real deployment would fetch both
    from the registers here and sign the same shape.
    """
    seed = int.from_bytes(hashlib.sha256(credit_code.encode()).digest()[:8], "big")
    established = dt.date(2000, 1, 1) + dt.timedelta(days=seed % 8000)
    period = approved.approved_at.date().replace(day=1) - dt.timedelta(days=1)
    return {
        "registration": {
            "credit_code": credit_code, "company_name": name, "registration_authority": approved.department,
            "established_on": established.isoformat(), "registered_capital_cny": f"{(seed % 990 + 10) * 10000}.00",
            "status": "moving_out", "move_out_case_number": approved.case_number,
            "move_out_approved_at": approved.approved_at.isoformat(), "synthetic": True},
        "tax": {
            "taxpayer_status": "normal", "outstanding_tax_cny": "0.00", "clearance": "cleared",
            "last_filing_period": f"{period:%Y-%m}", "invoices_cancelled": True, "synthetic": True},
    }


async def on_move_out_approved(session: AsyncSession, raw: dict[str, Any]) -> None:
    """A migration-out case was approved here: record it and queue `company.migrate` to the target city.
    Anything wrong with the case itself (no target city, not a partner) is kept on the record as
    `not_sent` and audited: redelivering the event could not fix it."""
    approved = CaseApprovedV1.model_validate(raw)
    if approved.item_basic_code not in MIGRATION_OUT_ITEMS or approved.channel == "partner":
        return
    if await repository.get_by_outgoing_local_case(session, approved.case_id) is not None:
        return  # the inbox makes this rare (two events for one approval); one migration per case
    form = approved.data or {}
    name = str(form.get("company_name") or approved.applicant_name)[:100]
    target = str(form.get("target_city") or "")
    problem = None
    try:
        credit_code = normalize_credit_code(str(form.get("credit_code") or approved.applicant_id))
    except InvalidIdentifier as exc:
        credit_code, problem = str(approved.applicant_id)[:18], f"credit code: {exc}"
    partner = (await partners.with_active_keys(session, target))[0] if REGION.match(target) else None
    if problem is None and (partner is None or partner.status != "active"):
        problem = f"target_city {target!r} is not an active partner city"
    case = OutgoingCase(id=uuid.uuid4(), kind=KIND, case_number=approved.case_number,
                        partner=target if REGION.match(target) else "000000", item_code=MIGRATION_IN_ITEM,
                        applicant_id_number=credit_code, applicant_name=name,
                        form={k: v for k, v in form.items() if k in ("company_name", "credit_code", "target_city",
                                                                     "new_address")},
                        status="forwarding" if problem is None else "not_sent", progress=[],
                        local_case_id=approved.case_id, local_case_number=approved.case_number,
                        created_by="system:cases-events")
    await repository.add(session, case)
    if problem is None:
        wire = CompanyMigration(migration_ref=case.id, case_number=approved.case_number, item_code=MIGRATION_IN_ITEM,
                                company={"credit_code": credit_code, "name": name},
                                new_address=str(form.get("new_address") or ""),
                                **company_records(credit_code, name, approved))
        await delivery.enqueue(session, case.partner, "company.migrate", EXCHANGE_MIGRATIONS,
                               wire.model_dump(mode="json"), on_behalf_of=mask_resident_id(credit_code),
                               case_number=approved.case_number, subject_id=str(case.id))
    await audit.record(session, "system:cases-events", "company_migration.sent" if problem is None else
                       "company_migration.not_sent", "outgoing_case", str(case.id), reason=problem,
                       detail={"partner": target, "case_number": approved.case_number})
    await outbox.add(session, make_event("interop", OUTGOING_CASE_FORWARDED, _outgoing_event(case), str(case.id)))


async def receive(session: AsyncSession, inbound: Inbound, body: CompanyMigration) -> ForwardAck | Opening:
    """A company moves here from the partner city: the answer if we hold the migration already
    (the same migration sent again, any message id, gets the same answer), else the checked
    migration-in case to open in svc-cases (forwarding.service.open_case, then record_opened)."""
    existing = await repository.find_incoming(session, inbound.partner.region_code, str(body.migration_ref))
    if existing is not None:
        return held(existing)
    if body.item_code != MIGRATION_IN_ITEM:
        raise InvalidField("item_code", f"{body.item_code} is not our company migration-in item ({MIGRATION_IN_ITEM})")
    try:
        credit_code = normalize_credit_code(body.company.credit_code)
    except InvalidIdentifier as exc:
        raise InvalidField("company.credit_code", str(exc)) from exc
    # svc-cases gets the item's own form fields (its form configuration may refuse any other);
    # the records summary is kept here, with the case (GET /incoming-cases/{id}).
    form = {"company_name": body.company.name, "credit_code": credit_code, "origin_city": inbound.partner.region_code,
            "new_address": body.new_address}
    kept = {**form, "origin_case_number": body.case_number, "registration": body.registration, "tax": body.tax}
    return Opening(kind=KIND, partner_case_ref=str(body.migration_ref), partner_case_number=body.case_number,
                   item_code=MIGRATION_IN_ITEM, implementation_code=None,
                   applicant={"type": "company", "id_number": None, "credit_code": credit_code,
                              "name": body.company.name},
                   form=form, kept=kept)
