import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column
from tongban.cases.db import Base


class Case(Base):
    """An application (办件) for one item, from submission to completion, with its legal clock."""

    __tablename__ = "case"
    __table_args__ = (
        # One case per partner case, whatever message ids the partner uses (forwarding relies on it).
        Index("uq_case_partner_case", "partner_region", "partner_case_number", unique=True,
              postgresql_where=text("partner_region IS NOT NULL")),
        # Open cases whose deadline was estimated over a year nobody has published (recomputed when
        # the schedule is imported, counted by the next-year warning).
        Index("ix_case_provisional", "deadline_on", postgresql_where=text("deadline_basis IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    case_number: Mapped[str] = mapped_column(String(19), unique=True)
    lookup_code: Mapped[str] = mapped_column(String(8))
    city_code: Mapped[str] = mapped_column(String(6))
    basic_code: Mapped[str] = mapped_column(String(12), index=True)
    implementation_code: Mapped[str | None] = mapped_column(String(31))
    item_name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(18), index=True)
    result_licence_type: Mapped[str | None] = mapped_column(String(40))
    applicant_type: Mapped[str] = mapped_column(String(10))          # person | company
    applicant_id: Mapped[str] = mapped_column(String(18), index=True)  # resident ID or credit code
    applicant_name: Mapped[str] = mapped_column(String(200))
    submitted_by: Mapped[str] = mapped_column(String(100))           # token subject of the submitter
    submitter_role: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(10))                 # online | counter | partner
    hall: Mapped[str | None] = mapped_column(String(50), index=True)  # counter cases: where it was taken
    # The submitter acted for the applicant under this delegation (None: the applicant herself, or staff).
    delegation_id: Mapped[str | None] = mapped_column(String(36))
    # 异地受理: the partner city's region and case number when the case came forwarded from it.
    partner_region: Mapped[str | None] = mapped_column(String(6))
    partner_case_number: Mapped[str | None] = mapped_column(String(40))
    form_data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    commitment_signed: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(30), index=True)
    state_reason: Mapped[str | None] = mapped_column(Text)
    # The legal clock (see case/clock.py).
    limit_days: Mapped[int] = mapped_column(Integer)
    limit_unit: Mapped[str] = mapped_column(String(20))
    extension_days: Mapped[int] = mapped_column(Integer, default=0)
    paused_days: Mapped[int] = mapped_column(Integer, default=0)
    received_on: Mapped[dt.date | None] = mapped_column(Date)
    paused_since: Mapped[dt.date | None] = mapped_column(Date)
    deadline_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    # Why the deadline is provisional (a year without an official schedule was estimated); None: official.
    deadline_basis: Mapped[str | None] = mapped_column(Text)
    warned_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    overdue_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Accept with gaps (容缺): what is missing and by when.
    gaps: Mapped[list[str] | None] = mapped_column(JSONB)
    gaps_due_on: Mapped[dt.date | None] = mapped_column(Date)
    gaps_reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Required materials marked 容缺 that the case still lacks: it can only be accepted with them as gaps.
    missing_materials: Mapped[list[str] | None] = mapped_column(JSONB)
    # The decision.
    decided_by_rule_version: Mapped[int | None] = mapped_column(Integer)
    commitment_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    licence_identifier: Mapped[str | None] = mapped_column(String(200))
    decision: Mapped[str | None] = mapped_column(String(20))         # approved | denied | refused
    bundle_case_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class CaseTimelineEntry(Base):
    """One step of a case's life: who did what, when, why, and the state before and after."""

    __tablename__ = "case_timeline_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(20))
    # Whom the actor acted for (the applicant, when an agent acted under `delegation_id`).
    principal: Mapped[str | None] = mapped_column(String(18))
    delegation_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CaseNumberSequence(Base):
    """The last case number issued per city and day (numbers are gap-free within a day)."""

    __tablename__ = "case_number_sequence"

    city_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    on_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)
