"""WeChat login (微信登录): a mini-program's `wx.login` code names a WeChat user (openid per
mini-program, unionid across the city's mini-programs). A user bound to an account logs straight
in; an unbound one is told to log in (or register and verify the real name) and bind, with a
short-lived bind ticket so it needs no second code. Only a real-name verified citizen binds: a
WeChat login then reaches what a password login reaches. A phone number WeChat confirmed
(`getPhoneNumber`) logs in to the one account that confirmed it the same way."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import jwt
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.account import repository as accounts
from tongban.gateway.account.models import Account
from tongban.gateway.db import audit
from tongban.gateway.token import service as tokens
from tongban.gateway.token.errors import InvalidGrant
from tongban.gateway.token.keys import KeyRing
from tongban.gateway.token.schemas import TokenResponse
from tongban.gateway.wechat import repository
from tongban.gateway.wechat.client import WeChatClient, WeChatPhone, WeChatSession
from tongban.gateway.wechat.errors import (
    AccountHasOtherWeChat, InvalidBindTicket, PhoneBoundElsewhere, PhoneNotBound, WeChatBindingNotFound,
    WeChatBoundElsewhere, WeChatNotBound,
)
from tongban.gateway.wechat.models import WeChatIdentity
from tongban.gateway.wechat.schemas import WeChatBindingRead, WeChatGrant, WeChatPhoneGrant
from tongban.shared import clock
from tongban.shared.auth import Principal, RealNameRequired
from tongban.shared.ids import mask_phone
from tongban.shared.pagination import Page, PageParams, paginate

TICKET_SECONDS = 600
VERIFIED = ("verified", "counter_verified")


@dataclass(frozen=True)
class Tickets:
    """Bind tickets: HMAC-signed (a key derived from the gateway's key passphrase), 10 minutes,
    naming the WeChat user a `wechat_not_bound` answer was about."""

    key: bytes

    @classmethod
    def from_passphrase(cls, passphrase: bytes) -> "Tickets":
        return cls(hashlib.sha256(b"tongban wechat bind ticket v1|" + passphrase).digest())

    def issue(self, who: WeChatSession) -> str:
        now = int(clock.timestamp())
        return jwt.encode({"typ": "wechat-bind", "appid": who.appid, "openid": who.openid, "unionid": who.unionid,
                           "iat": now, "exp": now + TICKET_SECONDS}, self.key, algorithm="HS256")

    def read(self, ticket: str) -> WeChatSession:
        try:
            claims = jwt.decode(ticket, self.key, algorithms=["HS256"], options={"verify_exp": False,
                                                                                 "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise InvalidBindTicket() from exc
        exp, appid, openid = claims.get("exp"), claims.get("appid"), claims.get("openid")
        if (claims.get("typ") != "wechat-bind" or not isinstance(exp, int) or exp < clock.timestamp()
                or not isinstance(appid, str) or not isinstance(openid, str)):
            raise InvalidBindTicket()
        unionid = claims.get("unionid")
        return WeChatSession(appid, openid, unionid if isinstance(unionid, str) else None)


def _person_key(who: WeChatSession) -> str:
    return who.unionid or f"{who.appid}:{who.openid}"


async def _identity(session: AsyncSession, who: WeChatSession) -> WeChatIdentity | None:
    """The binding of this WeChat user, if any: by its openid in this mini-program, else by its
    unionid in another of the city's (then this mini-program's openid joins it, audited)."""
    await repository.lock_person(session, _person_key(who))
    identity = await repository.by_openid(session, who.appid, who.openid)
    if identity is not None:
        if identity.unionid is None and who.unionid is not None:
            identity.unionid = who.unionid
        return identity
    if who.unionid is None or not (linked := await repository.by_unionid(session, who.unionid)):
        return None
    identity = await repository.add(session, WeChatIdentity(
        id=uuid.uuid4(), account_id=linked[0].account_id, appid=who.appid, openid=who.openid, unionid=who.unionid))
    await audit.record(session, f"wechat:{who.appid}", "wechat.linked", "account", str(identity.account_id),
                       reason="the same WeChat user (unionid) in another of the city's mini-programs",
                       detail={"appid": who.appid})
    return identity


async def login(session: AsyncSession, wechat: WeChatClient, tickets: Tickets, ring: KeyRing,
                grant: WeChatGrant, lifetimes: tokens.TokenLifetimes) -> TokenResponse:
    """`grant_type=wechat`: tokens for the account bound to the `wx.login` code's user, or
    WeChatNotBound carrying a bind ticket."""
    who = await wechat.code2session(grant.appid, grant.code)
    identity = await _identity(session, who)
    if identity is None:
        raise WeChatNotBound(
            "log in with your username and password (or register and verify your real name), then bind "
            "this WeChat user: POST /auth/wechat/bindings with this bind_ticket",
            bind_ticket=tickets.issue(who), bind_ticket_expires_in=TICKET_SECONDS)
    account = await accounts.get(session, identity.account_id)
    if account is None or not account.active:
        raise InvalidGrant("the account bound to this WeChat user is switched off")
    identity.last_login_at = clock.now()
    return await tokens.issue_login(session, ring, account, tokens.granted_scopes(account.role, grant.scope),
                                    lifetimes)


async def phone_login(session: AsyncSession, wechat: WeChatClient, ring: KeyRing, grant: WeChatPhoneGrant,
                      lifetimes: tokens.TokenLifetimes) -> TokenResponse:
    """`grant_type=wechat_phone`: tokens for the account that confirmed this phone number."""
    phone = await wechat.phone_number(grant.appid, grant.code)
    account = await repository.account_by_verified_phone(session, phone.phone) if phone.country_code == "86" else None
    if account is None:
        raise PhoneNotBound("log in with your username and password (or register and verify your real name), "
                            "then confirm this number: POST /auth/wechat/phone with a getPhoneNumber code")
    return await tokens.issue_login(session, ring, account, tokens.granted_scopes(account.role, grant.scope),
                                    lifetimes)


async def _verified_citizen(session: AsyncSession, caller: Principal) -> Account:
    """The caller's account, locked, read from the database (the token may predate a change)."""
    account = await accounts.get_for_update(session, uuid.UUID(caller.sub))
    if account is None or account.role != "citizen" or account.real_name_level not in VERIFIED:
        raise RealNameRequired("verify your real name before binding WeChat (POST /auth/real-name/verifications)")
    return account


async def bind(session: AsyncSession, caller: Principal, who: WeChatSession) -> WeChatIdentity:
    """Bind the caller's verified citizen account to this WeChat user (again: the same binding)."""
    account = await _verified_citizen(session, caller)
    await repository.lock_person(session, _person_key(who))
    existing = await repository.by_openid(session, who.appid, who.openid)
    if existing is not None:
        if existing.account_id != account.id:
            raise WeChatBoundElsewhere()
        return existing
    if who.unionid is not None:
        linked = await repository.by_unionid(session, who.unionid)
        if linked and linked[0].account_id != account.id:
            raise WeChatBoundElsewhere()
    for mine in await repository.of_account(session, account.id):
        other_person = (mine.unionid != who.unionid if mine.unionid and who.unionid
                        else mine.appid == who.appid)
        if other_person:
            raise AccountHasOtherWeChat("unbind it first (DELETE /auth/wechat/bindings/{id})")
    identity = await repository.add(session, WeChatIdentity(
        id=uuid.uuid4(), account_id=account.id, appid=who.appid, openid=who.openid, unionid=who.unionid))
    await audit.record(session, caller, "wechat.bound", "account", str(account.id),
                       detail={"appid": who.appid, "unionid": who.unionid is not None})
    return identity


async def unbind(session: AsyncSession, caller: Principal, binding_id: uuid.UUID) -> None:
    """Remove one of the caller's WeChat bindings (every one of that person: the unionid links them)."""
    mine = await repository.of_account(session, uuid.UUID(caller.sub))
    target = next((i for i in mine if i.id == binding_id), None)
    if target is None:
        raise WeChatBindingNotFound()
    for identity in mine:
        if identity is target or (target.unionid is not None and identity.unionid == target.unionid):
            await repository.remove(session, identity)
    await audit.record(session, caller, "wechat.unbound", "account", caller.sub, detail={"appid": target.appid})


async def list_bindings(session: AsyncSession, caller: Principal, page: PageParams) -> Page[WeChatBindingRead]:
    """The caller's WeChat bindings, oldest first."""
    return await paginate(session, repository.account_query(uuid.UUID(caller.sub)), page, WeChatBindingRead.of)


async def confirm_phone(session: AsyncSession, caller: Principal, phone: WeChatPhone) -> Account:
    """The caller's phone number becomes the one WeChat confirmed; it then logs in (wechat_phone)."""
    account = await _verified_citizen(session, caller)
    if phone.country_code != "86":
        raise PhoneBoundElsewhere("only mainland China numbers (+86) are accepted")
    other = await repository.account_by_verified_phone(session, phone.phone)
    if other is not None and other.id != account.id:
        raise PhoneBoundElsewhere()
    before = account.phone
    account.phone, account.phone_verified_at = phone.phone, clock.now()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent confirmation of the same number won
        raise PhoneBoundElsewhere() from exc
    await audit.record(session, caller, "account.phone_confirmed", "account", str(account.id),
                       detail={"from": mask_phone(before) if before else None, "to": mask_phone(phone.phone),
                               "by": f"wechat:{phone.appid}"})
    return account
