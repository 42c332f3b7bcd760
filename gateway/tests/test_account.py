"""Accounts: the rules for creating one, the demo seed, and the migrations matching the models."""

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from tongban.gateway.account import service
from tongban.gateway.account.errors import PersonHasAccount, UsernameTaken
from tongban.gateway.account.models import Account
from tongban.gateway.account.schemas import AccountCreate
from tongban.gateway.db import platform
from tongban.gateway.main import SERVICE
from tongban.gateway.seed import DEMO_ACCOUNTS, seed
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.ids import normalize_credit_code, normalize_resident_id
from tongban.shared.testing.plugin import migration_drift

CITIZEN = {"username": "wang", "password": "Wang#20260", "role": "citizen", "display_name": "王小明",
           "id_number": "442000199001011233"}


@pytest.fixture
async def sessionmaker(fresh_db):
    engine = make_engine(fresh_db, 4)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_seed_creates_one_account_per_role_once(sessionmaker):
    assert await seed(sessionmaker) == 6  # five accounts and the Shenzhen partner client
    assert await seed(sessionmaker) == 0
    async with sessionmaker() as s:
        accounts = {a.username: a for a in (await s.execute(select(Account))).scalars()}
        audits = (await s.execute(select(platform.audit_event.c.action, platform.audit_event.c.detail))).all()
    assert set(accounts) == {"citizen", "company", "clerk", "approver", "admin"}
    assert {a.role for a in accounts.values()} == {"citizen", "company", "clerk", "approver", "admin"}
    citizen, company = accounts["citizen"], accounts["company"]
    assert citizen.display_name == "张三" and normalize_resident_id(citizen.id_number) == citizen.id_number
    assert normalize_credit_code(company.credit_code) == company.credit_code
    assert accounts["clerk"].hall == "0b0a4420-0001-4000-8000-000000000001" and accounts["approver"].department
    assert all(a.password_hash.startswith("$argon2id$") and a.active for a in accounts.values())
    assert [a.action for a in audits] == ["account.created"] * 5 + ["oauth_client.created"]
    assert all("password" not in str(a.detail) for a in audits)


async def test_passwords_are_checked_against_the_hash(sessionmaker):
    await seed(sessionmaker)
    async with sessionmaker() as s, s.begin():
        assert (await service.authenticate(s, "citizen", "Citizen#2026")).username == "citizen"
        assert await service.authenticate(s, "citizen", "Citizen#2027") is None
        assert await service.authenticate(s, "ghost", "Citizen#2026") is None


@pytest.mark.parametrize("patch, message", [
    ({"id_number": "442000199001011234"}, "check digit"),
    ({"id_number": "442000199002301233"}, "birth date"),
    ({"id_number": None}, "needs id_number"),
    ({"hall": "0b0a4420-0001-4000-8000-000000000001"}, "hall belongs only to clerk"),
    ({"role": "company", "credit_code": "91442000MA4W12346X", "id_number": None}, "check character"),
    ({"role": "root"}, "role"),
    ({"phone": "12345"}, "phone"),
    ({"password": "short"}, "password"),
    ({"username": "has space"}, "username"),
])
def test_accounts_with_bad_fields_are_refused(patch, message):
    with pytest.raises(ValidationError, match=message):
        AccountCreate(**{**CITIZEN, **patch})


async def test_usernames_and_citizens_are_unique(sessionmaker):
    async with sessionmaker() as s, s.begin():
        account = await service.create_account(s, AccountCreate(**CITIZEN), "system:test")
        assert account.id_number == "442000199001011233"
    async with sessionmaker() as s, s.begin():
        with pytest.raises(UsernameTaken):
            await service.create_account(s, AccountCreate(**{**CITIZEN, "id_number": "11010519491231002X"}), "t")
    async with sessionmaker() as s, s.begin():
        with pytest.raises(PersonHasAccount):
            await service.create_account(s, AccountCreate(**{**CITIZEN, "username": "wang2"}), "t")
    # A legacy 15-digit number is stored in its 18-character form.
    legacy = AccountCreate(**{**CITIZEN, "username": "old", "id_number": "442000900101123"})
    assert legacy.id_number == "442000199001011233"
    assert DEMO_ACCOUNTS[0].id_number == "442000199001011233"


async def test_the_migrations_build_exactly_the_models(infra):
    assert await migration_drift(infra, SERVICE) == []
