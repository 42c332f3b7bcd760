"""Demo accounts for `make run`, one per role, and the demo partner system (Shenzhen's platform,
client `shenzhen`), created through the services (hashed secrets, audit records). Running it
again adds nothing."""

import asyncio
import os

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.gateway.account import repository, service
from tongban.gateway.account import service as account_service
from tongban.gateway.account.errors import PersonHasAccount, UsernameTaken
from tongban.gateway.account.schemas import AccountCreate
from tongban.gateway.config import Settings
from tongban.gateway.token import repository as token_repository
from tongban.gateway.token import service as token_service
from tongban.shared.config import development
from tongban.shared.db import make_engine, make_sessionmaker
from tongban.shared.ids import credit_code_check_char

SEED_ACTOR = "system:seed"


def demo_departments(region: str) -> list[str]:
    """The city's departments the demo catalogue names (svc-catalog seed_data.DEPARTMENTS, in its
    order: 公安局, 市场监督管理局, 人社局, 住房公积金管理中心 (a public institution, 12...), 自然资源局,
    税务局, 医保局, 民政局, 交通运输局, 教育局), as synthetic credit codes with check characters."""
    bodies = [("12" if n == 4 else "11") + f"{region}MB{n:07d}" for n in range(1, 11)]
    return [b + credit_code_check_char(b) for b in bodies]


# The resident ID number and the credit codes carry correct check characters (GB 11643, GB 32100).
def demo_accounts(region: str | None = None) -> list[AccountCreate]:
    """The demo accounts of the city (TONGBAN_SEED_REGION, Zhongshan by default)."""
    region = region or os.environ.get("TONGBAN_SEED_REGION", "442000")
    return [
        AccountCreate(username="citizen", password="Citizen#2026", role="citizen", display_name="张三",
                      id_number="442000199001011233", phone="13800138000"),
        AccountCreate(username="company", password="Company#2026", role="company",
                      display_name="李四（中山市通办科技有限公司）", credit_code="91442000MA4W12346R",
                      phone="13900139000"),
        # The comprehensive window (综合受理, 一窗通办) accepts for every department of the city.
        AccountCreate(username="clerk", password="Clerk#2026", role="clerk",
                      display_name="王五（中山市政务服务中心 1 号综合窗口）",
                      hall="0b0a4420-0001-4000-8000-000000000001",  # svc-queue seed: MAIN_HALL_ID
                      departments=demo_departments(region)),
        AccountCreate(username="approver", password="Approver#2026", role="approver",
                      display_name="赵六（中山市市场监督管理局）", department="11442000MB0000002B"),
        AccountCreate(username="admin", password="Admin#2026", role="admin", display_name="平台管理员"),
    ]


# The partner city's platform: region code 440300 (Shenzhen, GB/T 2260).
DEMO_PARTNER = {"client_id": "shenzhen", "secret": "Shenzhen#2026", "name": "深圳市政务服务数据管理局（深中通办）",
                "partner": "440300", "scopes": ("interop:exchange", "interop:verify")}


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Create the demo accounts that are not there yet; returns how many were added."""
    added = 0
    for data in demo_accounts():
        try:
            async with sessionmaker() as session, session.begin():
                if await repository.get_by_username(session, data.username) is None:
                    account = await service.create_account(session, data, SEED_ACTOR)
                    if account.role == "citizen":
                        # The demo citizen has shown her ID card at a counter, so `make run` shows
                        # her cases and licences at once (a new registration starts self_declared).
                        account.real_name_level = "counter_verified"
                    added += 1
        except (UsernameTaken, PersonHasAccount, IntegrityError):
            pass  # another seeder created it meanwhile
    if not development():
        return added  # a partner's secret is never seeded outside development (TONGBAN_ENV)
    try:
        async with sessionmaker() as session, session.begin():
            if await token_repository.get_client(session, DEMO_PARTNER["client_id"]) is None:
                p = DEMO_PARTNER
                await token_service.register_client(session, p["client_id"], p["secret"], p["name"], p["partner"],
                                                    p["scopes"], SEED_ACTOR)
                added += 1
    except IntegrityError:
        pass  # another seeder created it meanwhile
    return added


async def seed_service_clients(sessionmaker: async_sessionmaker[AsyncSession], secrets: dict[str, str]) -> int:
    """Make sure each service in `secrets` has its client (`svc-<name>`) with that secret: the
    launcher keeps the secrets in its data folder and gives each service its own."""
    changed = 0
    for name, secret in secrets.items():
        changed += await _ensure_client(sessionmaker, f"svc-{name}", secret, lambda session, name=name, secret=secret:
                                        token_service.register_service_client(session, name, secret, SEED_ACTOR))
    return changed


async def seed_partner_client(sessionmaker: async_sessionmaker[AsyncSession], client_id: str, secret: str,
                              name: str, partner: str) -> int:
    """Make sure the partner city `partner` has its client here with that secret (`make
    run-two-cities` gives each city's svc-interop its client at the other city's gateway)."""
    return await _ensure_client(sessionmaker, client_id, secret, lambda session: token_service.register_client(
        session, client_id, secret, name, partner, ("interop:exchange", "interop:verify"), SEED_ACTOR))


async def _ensure_client(sessionmaker: async_sessionmaker[AsyncSession], client_id: str, secret: str,
                         register) -> int:  # noqa: ANN001 - a coroutine function of the session
    """Register the client, or give an existing one this secret; 1 if anything changed."""
    try:
        async with sessionmaker() as session, session.begin():
            client = await token_repository.get_client(session, client_id)
            if client is None:
                await register(session)
                return 1
            if not await account_service.check_secret(client.secret_hash, secret):
                client.secret_hash = await account_service.hash_password(secret)
                return 1
    except IntegrityError:
        pass  # another seeder created it meanwhile
    return 0


async def main() -> None:
    engine = make_engine(Settings().database_url, 2)
    try:
        print(f"gateway: {await seed(make_sessionmaker(engine))} demo accounts and partners added")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())


DEMO_ACCOUNTS = demo_accounts("442000")   # Zhongshan's, for readers and tests
