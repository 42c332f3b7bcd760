"""Real-name assurance: a provider's signed answer, or a clerk who saw the ID card, raises a
citizen account's level; the conflict of several accounts claiming one ID number is settled
here, not at registration: the account that proves the ID number keeps it, the others that
only declared it are switched off (their tokens refused from the next request on)."""

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.account import repository as accounts
from tongban.gateway.account.errors import AccountNotFound, NotACitizen
from tongban.gateway.account.models import Account
from tongban.gateway.db import audit
from tongban.gateway.realname import repository
from tongban.gateway.realname.errors import AnswerForAnotherPerson, AnswerUsed, UnknownProvider
from tongban.gateway.realname.models import RealNameCheck
from tongban.gateway.realname.provider import RealNameProvider
from tongban.gateway.realname.schemas import RealNameSubmission
from tongban.gateway.revocation import service as revocations
from tongban.gateway.token import repository as tokens
from tongban.shared import clock
from tongban.shared.auth import Principal

RANK = {"self_declared": 0, "verified": 1, "counter_verified": 2}


async def _citizen(session: AsyncSession, account_id: uuid.UUID) -> Account:
    account = await accounts.get_for_update(session, account_id)
    if account is None:
        raise AccountNotFound()
    if account.role != "citizen":
        raise NotACitizen()
    return account


async def settle(session: AsyncSession, account: Account, level: str, actor: Principal | str, how: str) -> None:
    """Raise `account` to `level` (never lower it) and switch off every other account that
    declared the same ID number: only one proved it."""
    assert account.id_number is not None  # a citizen account always has one (schema rule)
    for other in await repository.other_claimants(session, account.id_number, account.id):
        other.active = False
        families = await tokens.revoke_account_tokens(session, other.id, clock.now())
        await revocations.revoke_logins(session, families, "ID number proven by another account")
        await revocations.revoke_subject(session, str(other.id), "ID number proven by another account")
        await audit.record(session, actor, "account.superseded", "account", str(other.id),
                           reason=f"the ID number was proven by account {account.id} ({how})")
    before = account.real_name_level
    if RANK.get(before or "", -1) < RANK[level]:
        account.real_name_level = level
    await session.flush()
    await audit.record(session, actor, "account.real_name_verified", "account", str(account.id), reason=how,
                       detail={"from": before, "to": account.real_name_level})


async def verify_with_provider(session: AsyncSession, providers: dict[str, RealNameProvider], caller: Principal,
                               data: RealNameSubmission) -> Account:
    """The caller's own account becomes `verified` on a provider's fresh, signed answer for its
    ID number; the answer is kept, and usable once."""
    provider = providers.get(data.provider)
    if provider is None:
        raise UnknownProvider(f"known here: {', '.join(sorted(providers)) or 'none'}")
    answer = provider.verify(data.answer)
    account = await _citizen(session, uuid.UUID(caller.sub))
    if answer.id_number != account.id_number:
        raise AnswerForAnotherPerson("the provider checked an ID number other than this account's")
    try:
        async with session.begin_nested():
            await repository.add(session, RealNameCheck(
                account_id=account.id, provider=answer.provider, answer_id=answer.answer_id,
                id_number=answer.id_number, name=answer.name, answer=data.answer, checked_at=answer.checked_at))
    except IntegrityError as exc:
        raise AnswerUsed() from exc
    account.display_name = answer.name  # the name on file with the provider, not the one typed in
    await settle(session, account, "verified", caller, f"provider {answer.provider} answer {answer.answer_id}")
    await session.refresh(account)
    return account


async def verify_at_counter(session: AsyncSession, account_id: uuid.UUID, clerk: Principal, reason: str) -> Account:
    """A clerk saw the ID card at the counter: `counter_verified`."""
    account = await _citizen(session, account_id)
    await settle(session, account, "counter_verified", clerk,
                 f"{reason} (hall {clerk.hall}, counter {clerk.claims.get('counter')})")
    await session.refresh(account)
    return account
