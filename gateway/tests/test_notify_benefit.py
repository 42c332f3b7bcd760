"""A grantee of a benefit policy is told (issue 22): a 免申即享 grant reaches the company's
accounts (found by its credit code: nobody applied), a 即申即享 approval the account that tapped,
and a grant still without a bank account is reminded — each once, in the inbox, by SMS and WeChat
as configured; a grantee with no account here is told nothing (and nothing fails)."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from tongban.gateway import seed as gateway_seed
from tongban.gateway.account.models import Account
from tongban.gateway.main import SERVICE as GATEWAY
from tongban.gateway.notify import consumers
from tongban.gateway.notify.models import Message
from tongban.shared import clock
from tongban.shared.contracts import cases as ce
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.events.envelope import make_event

MONDAY = dt.datetime(2026, 12, 7, 10, 0, tzinfo=clock.CHINA)
COMPANY = "91442000MA4W12346R"       # the seeded company's credit code
CITIZEN_ID = "442000199001011233"    # the seeded citizen's ID number


@pytest.fixture
async def gateway_db(infra):
    engine = make_engine(infra.fresh_database(GATEWAY), 2)
    sessionmaker = make_sessionmaker(engine)
    await gateway_seed.seed(sessionmaker)
    with clock.pinned(MONDAY):
        yield sessionmaker
    await engine.dispose()


def grant_event(kind: str, mode: str, subject_type: str, subject_id: str, sub: str | None = None,
                grant_id: uuid.UUID | None = None):
    payload = ce.BenefitGrantV1(
        grant_id=grant_id or uuid.uuid4(), policy_id=uuid.uuid4(), policy_name="食品安全提升奖励", mode=mode,
        subject_type=subject_type, subject_id=subject_id, amount=5000, case_id=uuid.uuid4(),
        case_number="442000202612070001", department="11442000MB0000002B", needs=["bank_account"],
        applicant_sub=sub, at=clock.now())
    return make_event("cases", kind, payload, subject=str(payload.grant_id))


async def messages(sessionmaker, account: uuid.UUID) -> list[Message]:  # noqa: ANN001
    async with sessionmaker() as s:
        return list((await s.execute(select(Message).where(Message.account_id == account)
                                     .order_by(Message.created_at))).scalars())


async def test_grantees_are_told_of_grants_and_missing_accounts(gateway_db):
    sessionmaker = gateway_db
    async with sessionmaker() as s:
        ids = dict((await s.execute(select(Account.username, Account.id)
                                    .where(Account.username.in_(("company", "citizen"))))).all())
    company, citizen = ids["company"], ids["citizen"]

    async def handle(event) -> None:  # noqa: ANN001
        async with sessionmaker() as s, s.begin():
            await consumers.on_benefit_event(s, event)

    # 免申即享: nobody applied, so the company's own accounts are found by its credit code.
    auto = grant_event(ce.BENEFIT_GRANTED, "auto", "company", COMPANY)
    await handle(auto)
    await handle(auto)   # delivered again: told once
    told = await messages(sessionmaker, company)
    assert [m.kind for m in told] == ["benefit.granted"]
    assert "食品安全提升奖励" in told[0].body and "5000元" in told[0].body and "收款银行账户" in told[0].body
    assert told[0].variables["amount"] == "5000元"

    # Still no bank account days later: reminded once.
    reminder = grant_event(ce.BENEFIT_ACCOUNT_MISSING, "auto", "company", COMPANY,
                           grant_id=uuid.UUID(auto.data["grant_id"]))
    await handle(reminder)
    assert [m.kind for m in await messages(sessionmaker, company)] == ["benefit.granted", "benefit.account_missing"]

    # 即申即享 (a resident's one tap): the account that tapped is told.
    await handle(grant_event(ce.BENEFIT_GRANTED, "apply", "person", CITIZEN_ID, sub=str(citizen)))
    told = await messages(sessionmaker, citizen)
    assert [m.kind for m in told] == ["benefit.approved"] and told[0].title == "政策申请已通过"

    # A resident granted without applying is found by her ID number.
    await handle(grant_event(ce.BENEFIT_GRANTED, "auto", "person", CITIZEN_ID))
    assert [m.kind for m in await messages(sessionmaker, citizen)] == ["benefit.approved", "benefit.granted"]

    # A grantee without any account here: nobody to tell, nothing fails, nothing written.
    async with sessionmaker() as s:
        before = len((await s.execute(select(Message.id))).all())
    await handle(grant_event(ce.BENEFIT_GRANTED, "auto", "company", "91442000MA4UH00009"))
    async with sessionmaker() as s:
        assert len((await s.execute(select(Message.id))).all()) == before
