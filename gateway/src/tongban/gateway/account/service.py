"""Account rules: passwords are argon2id hashes, checked off the event loop; a wrong username
costs as much time as a wrong password, so response times do not tell which usernames exist."""

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.account import repository
from tongban.gateway.account.errors import PersonHasAccount, UsernameTaken
from tongban.gateway.account.models import Account
from tongban.gateway.account.schemas import AccountCreate
from tongban.gateway.db import audit
from tongban.shared.auth import Principal

_hasher = PasswordHasher()


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


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
        await asyncio.to_thread(_verify_nobody, password)
        return None
    if not await asyncio.to_thread(_verify, account.password_hash, password) or not account.active:
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
    account = Account(**fields, password_hash=await hash_password(data.password.get_secret_value()), active=True)
    try:
        async with session.begin_nested():
            account = await repository.add(session, account)
    except IntegrityError as exc:  # a concurrent create of the same username or person won the race
        if "uq_account_citizen_id_number" in str(exc.orig):
            raise PersonHasAccount() from exc
        raise UsernameTaken(f"username {data.username!r} is taken") from exc
    await audit.record(session, actor, "account.created", "account", str(account.id),
                       detail={"username": account.username, "role": account.role})
    return account
