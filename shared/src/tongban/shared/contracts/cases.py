"""Event payloads published by svc-cases (subjects `cases.*`). Version 1: only additive changes.

Defined by svc-credentials, its first consumer, ahead of svc-cases publishing it: svc-cases
publishes `cases.case.approved` with this payload when a case is approved.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

CASE_APPROVED = "cases.case.approved"


class CaseApprovedV1(BaseModel):
    """A case was approved. `result_licence_type_code` is set for items that produce a licence
    (证照联办); `data` carries the licence's fields by the licence type's field names."""

    case_id: uuid.UUID
    case_number: str
    item_basic_code: str
    implementation_code: str | None = None
    applicant_type: Literal["person", "company"]
    applicant_id: str                       # resident ID number (person) or credit code (company)
    applicant_name: str
    result_licence_type_code: str | None = None
    department: str                         # the approving department's credit code
    approved_at: dt.datetime
    data: dict[str, Any] = Field(default_factory=dict)
    # Additive (v1): where the case came from, so svc-interop can call a partner city back.
    state: str = "approved"
    channel: str | None = None              # online | counter | partner
    partner_region: str | None = None       # set only for cases forwarded by a partner city (异地受理)
    partner_case_number: str | None = None
    # Additive (v1): for the city dashboard (svc-queue), which counts instant approvals (秒批) and
    # decisions made by the deadline without reading svc-cases' tables.
    rule_version: int | None = None        # set when instant approval decided
    deadline_on: dt.date | None = None
    # Additive (v1): the applicant's account (token subject) when she applied online herself, so a
    # notifier can tell her without a personal number.
    applicant_sub: str | None = None


# --- Published by svc-cases for every other step of a case's life --------------------------------

CASE_SUBMITTED = "cases.case.submitted"
CASE_ACCEPTED = "cases.case.accepted"
CASE_REFUSED = "cases.case.refused"
CASE_SUPPLEMENT_REQUESTED = "cases.case.supplement_requested"
CASE_RESUBMITTED = "cases.case.resubmitted"
CASE_REVIEW_STARTED = "cases.case.review_started"
CASE_DENIED = "cases.case.denied"
CASE_COMPLETED = "cases.case.completed"
CASE_WITHDRAWN = "cases.case.withdrawn"
CASE_SUSPENDED = "cases.case.suspended"
CASE_REVOKED = "cases.case.revoked"
CASE_EXTENDED = "cases.case.extended"
CASE_DEADLINE_WARNING = "cases.case.deadline_warning"
CASE_OVERDUE = "cases.case.overdue"
RATING_SUBMITTED = "cases.rating.submitted"
REMEDY_OPENED = "cases.remedy.opened"
REMEDY_CLOSED = "cases.remedy.closed"


class CaseTransitionedV1(BaseModel):
    """A case moved from one state to another (the subject names the step). No personal numbers:
    consumers that need the applicant read `cases.case.approved` or ask svc-cases."""

    case_id: uuid.UUID
    case_number: str
    item_basic_code: str
    department: str | None = None
    from_state: str | None = None
    state: str
    actor: str                              # the token subject, or "system:<what>"
    reason: str | None = None
    at: dt.datetime
    rule_version: int | None = None         # set when instant approval decided
    deadline_on: dt.date | None = None
    deadline_provisional: bool = False      # additive: the deadline rests on an estimated year
    channel: str | None = None              # online | counter | partner
    partner_region: str | None = None       # set only for cases forwarded by a partner city (异地受理)
    partner_case_number: str | None = None
    # Additive (v1): the applicant's account (token subject) when she applied online herself, and on
    # a supplement request the materials still missing (补正: what to bring, told once).
    applicant_sub: str | None = None
    missing_materials: list[str] | None = None


class CaseDeadlineV1(BaseModel):
    """The legal clock of a case: `level` is "yellow" (80 % of the working days used) or "red" (overdue)."""

    case_id: uuid.UUID
    case_number: str
    item_basic_code: str
    department: str | None = None
    level: Literal["yellow", "red"]
    deadline_on: dt.date
    limit_working_days: int
    used_working_days: int
    at: dt.datetime
    state: str | None = None
    channel: str | None = None
    partner_region: str | None = None
    partner_case_number: str | None = None


class RatingSubmittedV1(BaseModel):
    """A completed case was rated (好差评): 5 very satisfied … 1 very dissatisfied."""

    rating_id: uuid.UUID
    case_id: uuid.UUID
    item_basic_code: str
    department: str | None = None
    level: int
    defaulted: bool = False
    at: dt.datetime


class RemedyV1(BaseModel):
    """A remedy task (整改) for a bad rating was opened or closed."""

    remedy_id: uuid.UUID
    rating_id: uuid.UUID
    case_id: uuid.UUID
    department: str | None = None
    state: str
    due_on: dt.date
    result: str | None = None
    at: dt.datetime


CASE_GAPS_REMINDER = "cases.case.gaps_reminder"


class CaseGapsReminderV1(BaseModel):
    """容缺: the materials a case was accepted without are due soon (sent once, `days_left`
    working days before `gaps_due_on`), so a notifier can remind the applicant."""

    case_id: uuid.UUID
    case_number: str
    item_basic_code: str
    department: str | None = None
    state: str
    gaps: list[str]
    gaps_due_on: dt.date
    days_left: int
    at: dt.datetime
    channel: str | None = None
    partner_region: str | None = None
    partner_case_number: str | None = None


BUNDLE_SUBMITTED = "cases.bundle.submitted"
BUNDLE_COMPLETED = "cases.bundle.completed"


class BundleCaseV1(BaseModel):
    """A one-thing bundle case (一件事) was submitted or completed; `outcome` (approved | partial |
    denied) and `outcome_detail` are set on completion."""

    bundle_case_id: uuid.UUID
    case_number: str
    bundle_code: str
    state: str
    child_case_ids: list[uuid.UUID] = Field(default_factory=list)
    outcome: str | None = None
    outcome_detail: dict[str, Any] | None = None
    at: dt.datetime


TICKET_SUPERVISED = "cases.ticket.supervised"


class TicketSupervisedV1(BaseModel):
    """A hotline ticket (12345 诉求) passed its deadline unresolved and is now supervised (督办)."""

    ticket_id: uuid.UUID
    ticket_number: str
    category: str
    department: str | None = None
    state: str
    due_on: dt.date
    at: dt.datetime


TICKET_OPENED = "cases.ticket.opened"
TICKET_REPLIED = "cases.ticket.replied"
TICKET_CLOSED = "cases.ticket.closed"
TICKET_REOPENED = "cases.ticket.reopened"


class TicketChangedV1(BaseModel):
    """A hotline ticket (12345 诉求) was opened, replied, closed or reopened. `referral_id` is
    svc-interop's referral when the ticket came from the partner city, so interop can report
    the outcome back to it; `reply` is set on replied and closed."""

    ticket_id: uuid.UUID
    ticket_number: str
    source: str
    category: str
    state: str
    department: str | None = None
    referral_id: uuid.UUID | None = None
    reply: str | None = None
    at: dt.datetime
    # Additive (v1): the account (token subject) of the citizen who opened it online, to tell her of replies.
    citizen_sub: str | None = None


# --- The working-day calendar ------------------------------------------------------------------

CASE_DEADLINE_CHANGED = "cases.case.deadline_changed"


class CaseDeadlineChangedV1(BaseModel):
    """A case's deadline moved (or stopped being provisional) because the calendar changed: a
    year's official schedule was imported or corrected."""

    case_id: uuid.UUID
    case_number: str
    item_basic_code: str
    department: str | None = None
    state: str
    previous_deadline_on: dt.date | None
    deadline_on: dt.date | None
    deadline_provisional: bool
    reason: str
    at: dt.datetime


CALENDAR_SCHEDULE_IMPORTED = "cases.calendar.schedule_imported"


class CalendarScheduleImportedV1(BaseModel):
    """A year's official holiday schedule (国务院办公厅 notice) was imported or replaced. Every
    service that counts working days (svc-queue's hall opening days) keeps a read copy."""

    year: int
    notice_number: str
    notice_date: dt.date
    holidays: list[dt.date]
    adjusted_workdays: list[dt.date]            # 调休: weekend days worked
    revision: int
    at: dt.datetime


CALENDAR_NEXT_YEAR_MISSING = "cases.calendar.next_year_missing"


class CalendarNextYearMissingV1(BaseModel):
    """From 1 November, once a day while next year's official schedule is not imported: deadlines
    reaching into it are provisional until an admin imports it."""

    year: int
    on: dt.date
    provisional_cases: int


BENEFIT_GRANTED = "cases.benefit.granted"
BENEFIT_ACCOUNT_MISSING = "cases.benefit.account_missing"


class BenefitGrantV1(BaseModel):
    """A benefit policy (惠企/惠民政策) was granted to a company or resident — without an
    application (`mode` auto, 免申即享) or on a one-tap application approved by the rules (`apply`,
    即申即享) — or (on `account_missing`) its grantee has still not said where to pay it. `needs`
    names what the grantee must still give (the bank account); `subject_id` is the grantee's
    credit code or resident ID number, so a notifier can find its accounts (`applicant_sub` names
    the account that tapped, for 即申即享)."""

    grant_id: uuid.UUID
    policy_id: uuid.UUID
    policy_name: str
    policy_version: int = 1
    mode: Literal["apply", "auto"]
    subject_type: Literal["person", "company"]
    subject_id: str
    amount: int                             # yuan
    case_id: uuid.UUID
    case_number: str
    department: str
    needs: list[str] = Field(default_factory=list)
    applicant_sub: str | None = None
    at: dt.datetime
