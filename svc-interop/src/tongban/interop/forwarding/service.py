"""Case forwarding (异地受理) in both directions.

City A (here, `outgoing_case`): a counter accepts a case for city B's item; the case is queued
to B as `case.forward`; B's 202 brings B's case number; B's `case.status` messages bring its
progress, which A shows the applicant. City B (here, `incoming_case`): the partner's case is
opened in svc-cases (cases_client), answered with its case number, and every step svc-cases
announces (`cases.case.*`, channel `partner`) is queued back to the partner as `case.status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.interop.db import audit, outbox
from tongban.interop.delivery import service as delivery
from tongban.interop.delivery.models import OutboundMessage
from tongban.interop.discovery import repository as items
from tongban.interop.exchange.errors import ItemNotGranted
from tongban.interop.exchange.service import Inbound
from tongban.interop.forwarding import cases_client, repository
from tongban.interop.forwarding.errors import OutgoingCaseNotFound, PartnerCaseNumberReused
from tongban.interop.forwarding.models import IncomingCase, OutgoingCase
from tongban.interop.forwarding.schemas import (
    CaseStatusChange,
    ForwardAck,
    ForwardedCase,
    OutgoingCaseCreate,
    StatusAck,
)
from tongban.interop.partner import service as partners
from tongban.interop.partner.errors import PartnerNotFound
from tongban.interop.partner_item import repository as partner_items
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.contracts.interop import (
    INCOMING_CASE_RECEIVED,
    INCOMING_CASE_STATUS_CHANGED,
    OUTGOING_CASE_ACCEPTED,
    OUTGOING_CASE_FORWARDED,
    OUTGOING_CASE_PROGRESSED,
    IncomingCaseV1,
    OutgoingCaseV1,
)
from tongban.shared.errors import InvalidField
from tongban.shared.events.envelope import make_event
from tongban.shared.ids import InvalidIdentifier, mask_resident_id, normalize_resident_id

EXCHANGE_CASES = "/api/v1/interop/exchange/cases"
EXCHANGE_CASE_STATUS = "/api/v1/interop/exchange/case-status"


def _id_number(value: str, field: str) -> str:
    try:
        return normalize_resident_id(value)
    except InvalidIdentifier as exc:
        raise InvalidField(field, str(exc)) from exc


def _outgoing_event(case: OutgoingCase, remote_status: str | None = None) -> OutgoingCaseV1:
    return OutgoingCaseV1(case_id=case.id, case_number=case.case_number, partner=case.partner,
                          item_code=case.item_code, applicant_masked=mask_resident_id(case.applicant_id_number),
                          status=case.status, remote_case_number=case.remote_case_number, remote_status=remote_status,
                          changed_at=clock.now(), kind=case.kind, local_case_id=case.local_case_id,
                          local_case_number=case.local_case_number)


def _incoming_event(case: IncomingCase) -> IncomingCaseV1:
    return IncomingCaseV1(case_id=case.id, case_number=case.case_number, partner=case.partner,
                          partner_case_number=case.partner_case_number, item_code=case.item_code,
                          applicant_masked=mask_resident_id(case.applicant_id_number), status=case.status,
                          local_case_id=case.local_case_id, kind=case.kind)


async def forward(session: AsyncSession, body: OutgoingCaseCreate, region: str, actor: Principal) -> OutgoingCase:
    """Accept a case here for the partner's item and queue it to the partner."""
    id_number = _id_number(body.applicant.id_number, "applicant.id_number")
    partner = await partners.get(session, body.partner)
    if partner.status != "active":
        raise PartnerNotFound(f"{body.partner} is suspended")
    # Once the partner's items were imported, a case for an item it does not offer is refused here
    # rather than after a round trip (before the first import, the partner decides).
    imported, offered = await partner_items.offer_state(session, partner.region_code, body.item_code)
    if imported and not offered:
        raise InvalidField("item_code", f"{body.item_code} is not a cross-city item of {partner.region_code}")
    case = OutgoingCase(id=uuid.uuid4(), case_number=await repository.next_reference(session, region, "X"),
                        partner=partner.region_code, item_code=body.item_code, applicant_id_number=id_number,
                        applicant_name=body.applicant.name, form=body.form, status="forwarding", progress=[],
                        created_by=actor.sub)
    await repository.add(session, case)
    wire = ForwardedCase(case_ref=case.id, case_number=case.case_number, item_code=case.item_code,
                         applicant={"id_number": id_number, "name": case.applicant_name}, form=case.form)
    await delivery.enqueue(session, partner.region_code, "case.forward", EXCHANGE_CASES, wire.model_dump(mode="json"),
                           on_behalf_of=mask_resident_id(id_number), case_number=case.case_number,
                           subject_id=str(case.id))
    await audit.record(session, actor, "outgoing_case.forwarded", "outgoing_case", str(case.id),
                       detail={"partner": case.partner, "item_code": case.item_code, "case_number": case.case_number})
    await outbox.add(session, make_event("interop", OUTGOING_CASE_FORWARDED, _outgoing_event(case), str(case.id)))
    return case


async def on_forward_delivered(session: AsyncSession, message: OutboundMessage, answer: dict[str, Any]) -> None:
    """The partner accepted our forwarded case (202): keep its case number."""
    case = await repository.get_outgoing(session, uuid.UUID(message.subject_id or ""), for_update=True)
    if case is None:
        return
    ack = ForwardAck.model_validate(answer)
    case.remote_case_number = ack.case_number
    if case.status == "forwarding":
        case.status = "accepted_by_partner"
    case.updated_at = clock.now()
    await audit.record(session, "interop", "outgoing_case.accepted", "outgoing_case", str(case.id),
                       detail={"remote_case_number": ack.case_number, "message_id": str(message.id)})
    await outbox.add(session, make_event("interop", OUTGOING_CASE_ACCEPTED, _outgoing_event(case), str(case.id)))


async def on_forward_failed(session: AsyncSession, message: OutboundMessage, failure: dict[str, Any]) -> None:
    """The partner refused our case or migration for good (not granted, invalid) or we gave up:
    say so on the record, so staff see it rather than a case forever `forwarding`."""
    case = await repository.get_outgoing(session, uuid.UUID(message.subject_id or ""), for_update=True)
    if case is None or case.remote_case_number:
        return
    case.status = "refused_by_partner" if failure.get("refused") else "undeliverable"
    case.updated_at = clock.now()
    await audit.record(session, "interop", "outgoing_case.failed", "outgoing_case", str(case.id),
                       reason=str(failure.get("error") or "")[:1000] or None,
                       detail={"message_id": str(message.id), "partner_status": failure.get("status")})
    await outbox.add(session, make_event("interop", OUTGOING_CASE_PROGRESSED, _outgoing_event(case), str(case.id)))


async def apply_partner_status(session: AsyncSession, inbound: Inbound, change: CaseStatusChange) -> StatusAck:
    """A status change of a case we forwarded, reported by the city handling it."""
    case = await repository.get_outgoing(session, change.case_ref, for_update=True)
    if case is None or case.partner != inbound.partner.region_code:
        raise OutgoingCaseNotFound(f"{change.case_ref} is not a case we forwarded to {inbound.partner.region_code}")
    entry = {"status": change.status, "note": change.note, "changed_at": change.changed_at.isoformat(),
             "remote_case_number": change.case_number, "message_id": inbound.message_id}
    # Messages may overtake each other (retries, concurrent delivery): order by the partner's
    # time of change, and let the latest change decide the status.
    case.progress = sorted([*case.progress, entry], key=lambda e: e["changed_at"])
    case.remote_case_number = case.remote_case_number or change.case_number
    case.status = f"partner_{case.progress[-1]['status']}"
    case.updated_at = clock.now()
    await audit.record(session, f"partner:{inbound.partner.region_code}", "outgoing_case.progressed",
                       "outgoing_case", str(case.id), detail={"status": change.status, "message_id": inbound.message_id})
    await outbox.add(session, make_event("interop", OUTGOING_CASE_PROGRESSED,
                                         _outgoing_event(case, change.status), str(case.id)))
    return StatusAck(case_number=case.case_number, status=case.status)


async def _item_granted(session: AsyncSession, inbound: Inbound, item_code: str) -> bool:
    granted = inbound.partner.items
    if item_code in granted:
        return True
    return "*" in granted and await items.is_offered(session, item_code)


@dataclass(frozen=True)
class Opening:
    """A partner's case (or company migration) that passed our checks and is to be opened in
    svc-cases: what svc-cases is sent, and what we keep of it beside the case it opens."""

    kind: str
    partner_case_ref: str
    partner_case_number: str
    item_code: str
    implementation_code: str | None
    applicant: dict[str, Any]
    form: dict[str, Any]
    kept: dict[str, Any] | None = None  # what we keep of the partner's message (default: the form)


def held(existing: Any) -> ForwardAck:
    """The answer for a partner case we already hold (`repository.find_incoming`'s row)."""
    return ForwardAck(case_number=existing.case_number, status=existing.status, received_at=existing.created_at)


async def receive(session: AsyncSession, inbound: Inbound, case: ForwardedCase) -> ForwardAck | Opening:
    """A partner forwards a case for one of our items: the answer if we already hold the case
    (the same case sent again under another message id gets the same answer), else the checked
    case to open in svc-cases (`open_case`, then `record_opened`). Raises the refusal that applies."""
    existing = await repository.find_incoming(session, inbound.partner.region_code, str(case.case_ref))
    if existing is not None:
        return held(existing)
    if not await _item_granted(session, inbound, case.item_code):
        raise ItemNotGranted(f"{inbound.partner.region_code} may not forward cases for {case.item_code}")
    id_number = _id_number(case.applicant.id_number, "applicant.id_number")
    return Opening(kind="case", partner_case_ref=str(case.case_ref), partner_case_number=case.case_number,
                   item_code=case.item_code, implementation_code=case.implementation_code,
                   applicant={"type": "person", "id_number": id_number, "credit_code": None,
                              "name": case.applicant.name},
                   form=case.form)


async def open_case(cases_http: httpx.AsyncClient | None, inbound: Inbound, opening: Opening,
                    slots: asyncio.Semaphore | None = None) -> cases_client.OpenedCase:
    """Open the partner's case in our svc-cases, the message id as its idempotency key (a resend
    of the message, or our own retry after a crash, finds the same case). Called with no
    transaction of ours open: nothing of ours is held through svc-cases' latency. `slots`: how
    many calls may be in flight at once (INTEROP_CASES_CONCURRENCY)."""
    body = {"partner_region": inbound.partner.region_code, "partner_case_number": opening.partner_case_number,
            "basic_code": opening.item_code, "implementation_code": opening.implementation_code,
            "applicant": opening.applicant, "form_data": opening.form}
    async with slots or contextlib.nullcontext():
        return await cases_client.open_forwarded_case(cases_http, inbound.message_id, body)


def _incoming_of(inbound: Inbound, opening: Opening, opened: cases_client.OpenedCase) -> IncomingCase:
    applicant = opening.applicant
    identifier = applicant["id_number"] if applicant["type"] == "person" else applicant["credit_code"]
    return IncomingCase(id=uuid.uuid4(), kind=opening.kind, partner=inbound.partner.region_code,
                        partner_case_ref=opening.partner_case_ref, partner_case_number=opening.partner_case_number,
                        local_case_id=uuid.UUID(opened.id), case_number=opened.case_number,
                        item_code=opening.item_code, applicant_id_number=identifier,
                        applicant_name=applicant["name"],
                        form=opening.form if opening.kept is None else opening.kept,
                        status=opened.state, created_at=clock.now())


async def record_opened(session: AsyncSession, inbound: Inbound, opening: Opening,
                        opened: cases_client.OpenedCase) -> ForwardAck:
    """Keep the partner's reference beside the case svc-cases opened (its audit and event in the
    same transaction, the three rows one batched statement) and answer with our case number. The
    record goes in unless one is there already: the same partner case recorded meanwhile by a
    concurrent message (another message id), or svc-cases' case recorded under another of the
    partner's case refs. Then the statement fails (repository.recorded_before: the unique keys
    decide, with no look first) when the transaction's next statement is sent, the caller rolls
    back and answers with `recorded_before` in a fresh transaction."""
    incoming = _incoming_of(inbound, opening, opened)
    await repository.add_incoming(session, incoming)
    await audit.record(session, f"partner:{inbound.partner.region_code}", "incoming_case.received", "incoming_case",
                       str(incoming.id), detail={"kind": opening.kind,
                                                 "partner_case_number": opening.partner_case_number,
                                                 "case_number": opened.case_number, "message_id": inbound.message_id})
    await outbox.add(session, make_event("interop", INCOMING_CASE_RECEIVED, _incoming_event(incoming),
                                         str(incoming.id)))
    return ForwardAck(case_number=incoming.case_number, status=incoming.status, received_at=incoming.created_at)


async def recorded_before(session: AsyncSession, inbound: Inbound, opening: Opening,
                          opened: cases_client.OpenedCase) -> ForwardAck:
    """The answer when `record_opened`'s record met one already there: the same partner case's
    record answers (any message id); svc-cases' case recorded under another of the partner's case
    refs is refused (PartnerCaseNumberReused)."""
    existing = await repository.find_incoming(session, inbound.partner.region_code, opening.partner_case_ref)
    if existing is not None:
        return held(existing)
    other = await repository.get_by_local_case(session, uuid.UUID(opened.id))
    if other is not None:
        # svc-cases already holds this partner case number, under another of the partner's case refs.
        raise PartnerCaseNumberReused(f"{opening.partner_case_number} was forwarded before as case "
                                      f"{other.partner_case_ref}", case_number=other.case_number)
    raise PartnerCaseNumberReused(f"{opened.case_number} is recorded here already")


class CaseNotYetKnown(RuntimeError):
    """A forwarded case's event arrived before our record of it committed: retried by the consumer."""


async def report_case_step(session: AsyncSession, data: dict[str, Any], status: str) -> None:
    """svc-cases moved a forwarded case (`cases.case.*` event): queue `case.status` to the
    partner that forwarded it. A state outside the wire's CaseStatus fails validation and the
    event is dead-lettered (a contract change to look at, not something to retry)."""
    case = await repository.get_by_local_case(session, uuid.UUID(str(data["case_id"])), for_update=True)
    if case is None:
        raise CaseNotYetKnown(f"no forwarded case for {data['case_id']} (yet)")
    when = data.get("at") or data.get("approved_at")
    at = dt.datetime.fromisoformat(str(when)) if when else clock.now()
    case.status = status
    case.updated_at = clock.now()
    note = str(data.get("reason") or "")[:1000] or None
    change = CaseStatusChange.model_validate({"case_ref": case.partner_case_ref, "case_number": case.case_number,
                                              "status": status, "note": note, "changed_at": at})
    await delivery.enqueue(session, case.partner, "case.status", EXCHANGE_CASE_STATUS, change.model_dump(mode="json"),
                           on_behalf_of=mask_resident_id(case.applicant_id_number),
                           case_number=case.partner_case_number, subject_id=str(case.id))
    await audit.record(session, "system:cases-events", "incoming_case.status_changed", "incoming_case", str(case.id),
                       reason=change.note, detail={"status": status, "case_number": case.case_number})
    await outbox.add(session, make_event("interop", INCOMING_CASE_STATUS_CHANGED, _incoming_event(case), str(case.id)))
