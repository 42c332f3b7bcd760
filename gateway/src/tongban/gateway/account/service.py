"""Account rules: passwords are argon2id hashes, checked off the event loop; a wrong username
costs as much time as a wrong password, so response times do not tell which usernames exist."""

import functools
import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.gateway.account import repository
from tongban.gateway.account.errors import (
    AccountNotFound,
    CannotDeactivateSelf,
    NotStaff,
    PersonHasAccount,
    UsernameTaken,
)
from tongban.gateway.account.models import Account
from tongban.gateway.account.schemas import (
    AccountCreate,
    AccountRead,
    AccountStatusChange,
    CitizenRegistration,
    RealNameVerification,
    StaffScope,
)
from tongban.gateway.db import audit
from tongban.gateway.protection import hashing
from tongban.gateway.realname import service as realname
from tongban.gateway.revocation import service as revocations
from tongban.gateway.token import repository as tokens
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.pagination import Page, PageParams, paginate

SELF_REGISTRATION = "self:registration"

_hasher = PasswordHasher()


async def hash_password(password: str) -> str:
    return await hashing.run(_hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("not the password of anyone")


def _verify_nobody(password: str) -> None:
    """Spend the time a real check takes, for a username that does not exist."""
    _verify(_dummy_hash(), password)


async def authenticate(session: AsyncSession, username: str, password: str) -> Account | None:
    """The active account with this username and password, or None. Upgrades an outdated hash."""
    account = await repository.get_by_username(session, username)
    if account is None:
        await hashing.run(_verify_nobody, password)
        return None
    if not await hashing.run(_verify, account.password_hash, password) or not account.active:
        return None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = await hash_password(password)
    return account


async def create_account(session: AsyncSession, data: AccountCreate, actor: Principal | str) -> Account:
    """Create an account (password hashed) and record who created it."""
    if await repository.get_by_username(session, data.username) is not None:
        raise UsernameTaken(f"username {data.username!r} is taken")
    if data.id_number and await repository.citizen_by_id_number(session, data.id_number) is not None:
        raise PersonHasAccount()
    fields = data.model_dump(exclude={"password"})
    if data.role == "citizen":
        fields["real_name_level"] = "self_declared"
    if data.role == "company":
        fields["company_role"] = data.company_role or "legal_representative"
    account = Account(**fields, password_hash=await hash_password(data.password.get_secret_value()), active=True)
    try:
        async with session.begin_nested():
            account = await repository.add(session, account)
    except IntegrityError as exc:  # a concurrent create of the same username or person won the race
        if "uq_account_citizen_id_number" in str(exc.orig):
            raise PersonHasAccount() from exc
        raise UsernameTaken(f"username {data.username!r} is taken") from exc
    await audit.record(session, actor, "account.created", "account", str(account.id),
                       detail={"username": account.username, "role": account.role,
                               "company_role": account.company_role})
    return account


async def register_citizen(session: AsyncSession, data: CitizenRegistration) -> None:
    """A citizen registers themselves, `self_declared`. Nothing tells the caller whether the
    username or the ID number was taken: a taken username creates nothing (the password costs
    the same hashing either way); a second account naming an ID number is created, and the
    conflict is settled when one of them proves the ID number (realname/service.py)."""
    password_hash = await hash_password(data.password.get_secret_value())
    if await repository.get_by_username(session, data.username) is not None:
        return
    account = Account(username=data.username, password_hash=password_hash, role="citizen",
                      display_name=data.display_name, id_number=data.id_number, phone=data.phone,
                      real_name_level="self_declared", active=True)
    try:
        async with session.begin_nested():
            account = await repository.add(session, account)
    except IntegrityError:  # a concurrent registration took the username
        return
    await audit.record(session, SELF_REGISTRATION, "account.created", "account", str(account.id),
                       detail={"username": account.username, "role": "citizen"})


async def verify_real_name(session: AsyncSession, account_id: uuid.UUID, clerk: Principal,
                           data: RealNameVerification) -> Account:
    """A clerk saw the citizen's ID card at a counter: the level becomes `counter_verified`."""
    return await realname.verify_at_counter(session, account_id, clerk, data.reason)


async def set_scope(session: AsyncSession, account_id: uuid.UUID, admin: Principal, data: StaffScope) -> Account:
    """An admin sets a clerk's halls and departments or an approver's departments. Tokens carry
    the scope, so the account's tokens are refused from the next request on: the next login
    carries the new scope."""
    account = await repository.get_for_update(session, account_id)
    if account is None:
        raise AccountNotFound()
    if account.role not in ("clerk", "approver") or (account.role == "approver" and data.halls):
        raise NotStaff()
    before = {"halls": account.halls, "departments": account.departments}
    if account.role == "clerk":
        if not data.halls:
            raise NotStaff("a clerk serves at least one hall")
        account.halls = sorted(set(data.halls))
        account.hall = account.halls[0] if account.hall not in account.halls else account.hall
    account.departments = sorted(set(data.departments))
    if account.role == "approver":
        account.department = (account.department if account.department in account.departments
                              else account.departments[0])
    families = await tokens.revoke_account_tokens(session, account.id, clock.now())
    await revocations.revoke_logins(session, families, "staff scope changed")
    await revocations.revoke_subject(session, str(account.id), "staff scope changed")
    await session.flush()
    await session.refresh(account)
    await audit.record(session, admin, "account.scope_changed", "account", str(account.id), reason=data.reason,
                       detail={"from": before, "to": {"halls": account.halls, "departments": account.departments}})
    return account


async def set_active(session: AsyncSession, account_id: uuid.UUID, active: bool, admin: Principal,
                     data: AccountStatusChange) -> Account:
    """Switch an account off (its logins end and every access token it holds is refused from the
    next request on; logging in fails) or back on (it must log in again)."""
    if not active and str(account_id) == admin.sub:
        raise CannotDeactivateSelf()
    account = await repository.get_for_update(session, account_id)
    if account is None:
        raise AccountNotFound()
    if account.active and not active:
        families = await tokens.revoke_account_tokens(session, account.id, clock.now())
        await revocations.revoke_logins(session, families, "account deactivated")
        await revocations.revoke_subject(session, str(account.id), "account deactivated")
    changed = account.active != active
    account.active = active
    await session.flush()
    await session.refresh(account)
    if changed:
        await audit.record(session, admin, "account.activated" if active else "account.deactivated", "account",
                           str(account.id), reason=data.reason)
    return account


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Account:
    """The account, or AccountNotFound."""
    account = await repository.get(session, account_id)
    if account is None:
        raise AccountNotFound()
    return account


async def list_accounts(session: AsyncSession, params: PageParams, caller: Principal,
                        role: str | None) -> Page[AccountRead]:
    """One page of accounts; personal numbers masked for anyone but their owner."""
    return await paginate(session, repository.list_stmt(role), params,
                          lambda a: AccountRead.of(a, owner=str(a.id) == caller.sub))


async def active_account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    """The account if it exists and is active."""
    account = await repository.get(session, account_id)
    return account if account is not None and account.active else None


async def check_secret(secret_hash: str | None, secret: str) -> bool:
    """Check a client secret against its argon2 hash; an unknown client costs the same time."""
    if secret_hash is None:
        await hashing.run(_verify_nobody, secret)
        return False
    return await hashing.run(_verify, secret_hash, secret)
