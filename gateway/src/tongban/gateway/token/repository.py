import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.token.models import OAuthClient, RefreshToken, SigningKey

# Any constant works: it only has to be the same in every replica of the gateway.
SIGNING_KEY_LOCK = 0x7467_6B65_7973  # "tgkeys"


async def active_keys(session: AsyncSession) -> Sequence[SigningKey]:
    """Keys not retired, newest first (the first one signs)."""
    stmt = select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(
        SigningKey.created_at.desc(), SigningKey.kid)
    return (await session.execute(stmt)).scalars().all()


async def lock_signing_keys(session: AsyncSession) -> None:
    """Serialise key creation across replicas until the end of the transaction."""
    await session.execute(select(func.pg_advisory_xact_lock(SIGNING_KEY_LOCK)))


async def add(session: AsyncSession, key: SigningKey) -> SigningKey:
    session.add(key)
    await session.flush()
    return key


async def get_key(session: AsyncSession, kid: str) -> SigningKey | None:
    return await session.get(SigningKey, kid, with_for_update=True)


async def add_refresh_token(session: AsyncSession, token: RefreshToken) -> RefreshToken:
    session.add(token)
    await session.flush()
    return token


async def refresh_token_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    """The refresh token with this hash, locked: two refreshes with one token must not both win."""
    stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def refresh_token_by_id(session: AsyncSession, token_id: uuid.UUID) -> RefreshToken | None:
    """A refresh token by id, locked."""
    return await session.get(RefreshToken, token_id, with_for_update=True, populate_existing=True)


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, at: dt.datetime) -> int:
    """Revoke every token of a login session; returns how many were still live."""
    stmt = (update(RefreshToken).where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=at))
    return (await session.execute(stmt)).rowcount


async def revoke_account_tokens(session: AsyncSession, account_id: uuid.UUID, at: dt.datetime) -> list[uuid.UUID]:
    """Revoke every live refresh token of an account (logout everywhere); returns the logins
    (families) that had one."""
    stmt = (update(RefreshToken).where(RefreshToken.account_id == account_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=at).returning(RefreshToken.family_id))
    return list(dict.fromkeys((await session.execute(stmt)).scalars().all()))


async def get_client(session: AsyncSession, client_id: str) -> OAuthClient | None:
    return await session.get(OAuthClient, client_id)


def clients_query() -> Select[tuple[OAuthClient]]:
    return select(OAuthClient).order_by(OAuthClient.created_at.desc(), OAuthClient.client_id)


async def add_client(session: AsyncSession, client: OAuthClient) -> OAuthClient:
    session.add(client)
    await session.flush()
    return client
