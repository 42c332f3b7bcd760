import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from tongban.cases.db import Base


class BenefitPolicy(Base):
    """A benefit policy (惠企/惠民政策): who qualifies (rules over facts), how much, when, within
    which budget; `apply` (即申即享: one tap, decided at once) or `auto` (免申即享: granted without
    an application). Its cases are of item `basic_code`, handled by `department`."""

    __tablename__ = "benefit_policy"
    # The budget is never exceeded, whatever the concurrency: the database says so too.
    __table_args__ = (CheckConstraint("budget_used >= 0 AND budget_used <= budget_total", name="budget_within_total"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))             # subsidy | tax_relief | grant | benefit
    subject_type: Mapped[str] = mapped_column(String(10))     # company | person
    mode: Mapped[str] = mapped_column(String(10))             # apply | auto
    basic_code: Mapped[str] = mapped_column(String(12))
    city_code: Mapped[str] = mapped_column(String(6))
    department: Mapped[str] = mapped_column(String(18), index=True)
    eligibility: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    definitions: Mapped[dict[str, Any]] = mapped_column(JSONB)
    amount_rule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    budget_total: Mapped[int] = mapped_column(BigInteger)
    budget_used: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(12), index=True)  # draft | published | closed
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Amended in versions: each amendment keeps the configuration it replaced (BenefitPolicyVersion).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    amended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    close_reason: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BenefitPolicyVersion(Base):
    """The configuration a policy had before an amendment replaced it (its grants name their version)."""

    __tablename__ = "benefit_policy_version"

    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("benefit_policy.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB)
    replaced_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    replaced_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BenefitSubject(Base):
    """What the platform knows of a company or person for matching: read copies from events
    (licences, credit) and what the subject declared, each fact with its source."""

    __tablename__ = "benefit_subject"

    subject_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(10), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    facts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sources: Mapped[dict[str, str]] = mapped_column(JSONB)    # fact → declared | licence | credit | registry | case
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                    onupdate=func.now())


class BenefitLicence(Base):
    """A licence heard of from svc-credentials (its status events name the licence only)."""

    __tablename__ = "benefit_licence"
    # A status change asks whether the holder still has a valid licence of the type: one probe.
    __table_args__ = (Index("ix_benefit_licence_holder_type", "holder_id", "type_code"),)

    licence_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    holder_id: Mapped[str] = mapped_column(String(18))
    type_code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))


class BenefitGrant(Base):
    """A policy granted to one subject, once: the amount taken from the budget and its case."""

    __tablename__ = "benefit_grant"
    __table_args__ = (UniqueConstraint("policy_id", "subject_id"),
                      # The reminder's sweep: grants still without a bank account, oldest first.
                      Index("ix_benefit_grant_no_account", "created_at",
                            postgresql_where=text("bank_account IS NULL AND account_reminded_at IS NULL")))

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("benefit_policy.id"), index=True)
    subject_id: Mapped[str] = mapped_column(String(18), index=True)
    subject_type: Mapped[str] = mapped_column(String(10))
    basic_code: Mapped[str] = mapped_column(String(12))
    department: Mapped[str] = mapped_column(String(18))
    amount: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(10))
    case_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    matched: Mapped[list[str]] = mapped_column(JSONB)
    policy_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")   # the rules it was granted under
    # What the platform cannot know: where to pay, given by the grantee afterwards.
    bank_name: Mapped[str | None] = mapped_column(String(60))
    bank_account: Mapped[str | None] = mapped_column(String(34))
    account_given_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    account_reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BenefitPolicyGeneration(Base):
    """One row: bumped (by a trigger on `benefit_policy`) in the transaction of any change to a
    published policy, so a process holding compiled policies knows, with one read, they are current."""

    __tablename__ = "benefit_policy_generation"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
