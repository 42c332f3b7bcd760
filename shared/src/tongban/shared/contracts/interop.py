"""Event payloads published by svc-interop (subjects `interop.*`). Version 1: only additive changes.

Personal numbers never travel in these events: applicants appear masked (`mask_resident_id`).
"""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel

PARTNER_REGISTERED = "interop.partner.registered"
PARTNER_UPDATED = "interop.partner.updated"
OUTGOING_CASE_FORWARDED = "interop.outgoing_case.forwarded"
OUTGOING_CASE_ACCEPTED = "interop.outgoing_case.accepted"
OUTGOING_CASE_PROGRESSED = "interop.outgoing_case.progressed"
INCOMING_CASE_RECEIVED = "interop.incoming_case.received"
INCOMING_CASE_STATUS_CHANGED = "interop.incoming_case.status_changed"
REFERRAL_RECEIVED = "interop.referral.received"
REFERRAL_SENT = "interop.referral.sent"
# Additive: the partner reported what its hotline did with a ticket we referred (replied, closed,
# reopened), or our own ticket for a partner's referral moved and the partner is being told.
REFERRAL_PROGRESSED = "interop.referral.progressed"


class PartnerChangedV1(BaseModel):
    """A partner city was registered or its record (services, items, keys, status) changed."""

    region_code: str
    name: str
    status: str
    services: list[str]
    items: list[str]
    kids: list[str]


class OutgoingCaseV1(BaseModel):
    """A case accepted here for a partner city's item: forwarded, accepted there, or progressed there."""

    case_id: uuid.UUID
    case_number: str
    partner: str
    item_code: str
    applicant_masked: str
    status: str
    remote_case_number: str | None = None
    remote_status: str | None = None
    changed_at: dt.datetime | None = None
    # Additive: `company_migration` for a company's move-out (企业迁移), whose case here is
    # svc-cases' migration-out case (`local_case_id`, `local_case_number`); else `case`.
    kind: str = "case"
    local_case_id: uuid.UUID | None = None
    local_case_number: str | None = None


class IncomingCaseV1(BaseModel):
    """A case a partner city forwarded to us (received, opened in svc-cases), or its state changed
    in svc-cases (and the partner is being told)."""

    case_id: uuid.UUID
    case_number: str
    partner: str
    partner_case_number: str
    item_code: str
    applicant_masked: str
    status: str
    local_case_id: uuid.UUID | None = None  # the case svc-cases opened for it (additive)
    kind: str = "case"                      # additive: or `company_migration` (a migration-in case)


class ReferralV1(BaseModel):
    """A hotline ticket or company migration sent to or received from a partner city."""

    referral_id: uuid.UUID
    reference_number: str
    kind: str              # hotline / company_migration
    direction: str         # inbound / outbound
    partner: str
    status: str
    # Additive: a hotline referral received from the partner carries the ticket itself, so
    # svc-cases can open one of its own tickets for it (the referral's id links the two).
    partner_reference_number: str | None = None
    ticket: HotlineTicketV1 | None = None
    # Additive (on interop.referral.progressed): the step reported and the hotline's reply.
    progress_status: str | None = None
    reply: str | None = None


class HotlineTicketV1(BaseModel):
    """The partner's 12345 ticket as referred to us (category is the partner's own wording)."""

    ticket_number: str
    category: str
    summary: str
    content: str
    caller_name: str
    caller_phone: str | None = None
