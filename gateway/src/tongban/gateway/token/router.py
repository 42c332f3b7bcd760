import base64
import secrets
import binascii
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.protection.hashing import HashingBusy
from tongban.gateway.protection.limits import LoginLocked, RateLimited
from tongban.gateway.token import service
from tongban.gateway.token.errors import (
    ClientExists, ClientNotFound, InvalidClient, InvalidGrant, InvalidRequest, InvalidScope, SigningKeyInUse, SigningKeyNotFound,
    UnsupportedGrantType,
)
from tongban.gateway.token.schemas import (
    ClientCredentialsGrant, Jwks, OAuthClientCreate, OAuthClientCreated, OAuthClientRead, OAuthClientStatus,
    PasswordGrant, RefreshGrant, Revocation, SigningKeyCreate, SigningKeyRead,
    TokenResponse,
)
from tongban.gateway.policy import ERRORS as AUTH_ERRORS
from tongban.gateway.wechat import service as wechat
from tongban.gateway.wechat.errors import (
    PhoneNotBound, UnknownMiniProgram, WeChatCodeRefused, WeChatNotBound, WeChatUnavailable,
)
from tongban.gateway.wechat.schemas import WeChatGrant, WeChatPhoneGrant
from tongban.gateway.policy import Caller, Public
from tongban.shared.apidocs import EVERYONE_TAGS
from tongban.shared.db import SessionDep
from tongban.shared.errors import InvalidField, responses
from tongban.shared.idempotency import BadIdempotencyKey, IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep

router = APIRouter(tags=["auth"])
M = TypeVar("M", bound=BaseModel)
FORM = "application/x-www-form-urlencoded"
GRANTS = ("password", "refresh_token", "client_credentials", "wechat", "wechat_phone")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_TOKEN_FORM: dict[str, Any] = {
    "type": "object", "required": ["grant_type"],
    "properties": {"grant_type": {"type": "string", "enum": list(GRANTS)},
                   "username": {"type": "string", "description": "password grant"},
                   "password": {"type": "string", "format": "password", "description": "password grant"},
                   "refresh_token": {"type": "string", "description": "refresh_token grant"},
                   "client_id": {"type": "string", "description": "client_credentials (or HTTP Basic)"},
                   "client_secret": {"type": "string", "format": "password"},
                   "appid": {"type": "string", "description": "wechat, wechat_phone: the mini-program's appid"},
                   "code": {"type": "string", "description": "wechat: the wx.login code; wechat_phone: the "
                                                             "getPhoneNumber code"},
                   "scope": {"type": "string", "description": "space-separated; default: all granted"}},
}
KeyAdmin = Caller("signing_key.manage")
ClientAdmin = Caller("client.create")
ClientSwitcher = Caller("client.switch")
ClientReader = Caller("client.read")


async def _read_form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").partition(";")[0].strip().lower() != FORM:
        raise InvalidRequest(f"send the parameters as {FORM}")
    try:
        pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the form cannot be read") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:  # RFC 6749 §3.2: parameters must not be repeated
            raise InvalidRequest(f"{name} is sent more than once")
        form[name] = value
    return form


@asynccontextmanager
async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction, committed when the block ends: for endpoints that must act after the
    commit (reload the key ring; refuse a reused refresh token once its family is revoked)."""
    async with request.app.state.sessionmaker() as session, session.begin():
        yield session


def _parse(model: type[M], form: dict[str, str]) -> M:
    try:
        return model.model_validate(form)
    except ValidationError as exc:
        names = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
        raise InvalidRequest(f"missing or invalid: {', '.join(names)}") from exc


def _basic_client(request: Request, form: dict[str, str]) -> None:
    """RFC 6749 §2.3.1: client credentials in HTTP Basic are moved into the form."""
    value = request.headers.get("authorization", "")
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return
    try:
        client_id, sep, secret = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient("the Basic credentials cannot be read") from exc
    if not sep or "client_id" in form:
        raise InvalidRequest("send the client credentials once: in HTTP Basic or in the form")
    form["client_id"], form["client_secret"] = unquote(client_id), unquote(secret)


@router.post("/auth/token", summary="登录与刷新令牌（密码、刷新令牌、客户端凭证）", tags=EVERYONE_TAGS,
             response_model=TokenResponse,
             responses=responses(InvalidRequest, InvalidGrant, UnsupportedGrantType, InvalidScope, InvalidClient,
                                 RateLimited, LoginLocked, HashingBusy, WeChatNotBound, PhoneNotBound,
                                 WeChatCodeRefused, UnknownMiniProgram, WeChatUnavailable),
             openapi_extra={"requestBody": {"required": True, "content": {FORM: {"schema": _TOKEN_FORM}}}})
async def issue_token(request: Request) -> JSONResponse:
    """OAuth 2.0 token endpoint (form-encoded):

    - `grant_type=password` with `username` and `password`: people (mini-program, hall staff);
    - `grant_type=refresh_token` with `refresh_token`: single use, answered with a new one;
    - `grant_type=client_credentials`: partner systems (HTTP Basic or `client_id`/`client_secret`);
    - `grant_type=wechat` with `appid` and `code` (微信登录, the `wx.login` code): the account bound
      to that WeChat user; unbound, 400 `wechat_not_bound` with a `bind_ticket` to bind it after a
      password login (`POST /auth/wechat/bindings`);
    - `grant_type=wechat_phone` with `appid` and `code` (手机号登录, the `getPhoneNumber` code): the
      account that confirmed that number (`POST /auth/wechat/phone`); else 400 `phone_not_bound`.

    A refresh repeated within a few seconds with the same refresh token (several pages at once)
    gets the same answer; later, a used refresh token ends the whole login.
    Repeated failures lock the account (or client) and the caller's address for a while (429)."""
    form = await _read_form(request)
    grant_type = form.pop("grant_type", None)
    if not grant_type:
        raise InvalidRequest("grant_type is missing")
    state = request.app.state
    lifetimes = service.TokenLifetimes(state.settings.access_token_ttl, state.settings.refresh_token_ttl,
                                       state.settings.refresh_grace_seconds)
    ring = await state.keyring.fresh()
    ip = request.client.host if request.client else "unknown"
    if grant_type == "refresh_token":
        refresh = _parse(RefreshGrant, form)
        async with _transaction(request) as session:
            outcome = await service.refresh_grant(session, ring, refresh, lifetimes)
        # Raised only after the commit: a reused token's family stays revoked although the request is refused.
        if isinstance(outcome, InvalidGrant):
            raise outcome
        return JSONResponse(outcome.model_dump(exclude_none=True), headers=NO_STORE)
    if grant_type in ("wechat", "wechat_phone"):
        return await _wechat_grant(request, grant_type, form, lifetimes, ring, ip)
    if grant_type == "password":
        grant = _parse(PasswordGrant, form)
        who = f"account:{grant.username.lower()}"
    elif grant_type == "client_credentials":
        _basic_client(request, form)
        grant = _parse(ClientCredentialsGrant, form)
        who = f"client:{grant.client_id}"
    else:
        raise UnsupportedGrantType(f"grant_type {grant_type[:50]!r} is not supported; use one of {', '.join(GRANTS)}")
    throttle = state.login_throttle
    await throttle.check(who, ip)
    try:
        async with _transaction(request) as session:
            if isinstance(grant, PasswordGrant):
                token = await service.password_grant(session, ring, grant, lifetimes)
            else:
                token = await service.client_credentials_grant(session, ring, grant, lifetimes.access)
    except (InvalidGrant, InvalidClient):
        await throttle.failed(who, ip)
        raise
    await throttle.succeeded(who, ip)
    return JSONResponse(token.model_dump(exclude_none=True), headers=NO_STORE)


async def _wechat_grant(request: Request, grant_type: str, form: dict[str, str],
                        lifetimes: service.TokenLifetimes, ring: Any, ip: str) -> JSONResponse:
    """The WeChat grants, under the same back-off as passwords: a code WeChat refuses counts as a
    failed login of this address (`wechat:<address>`); an unbound user does not."""
    state = request.app.state
    throttle = state.login_throttle
    who = f"wechat:{ip}"
    await throttle.check(who, ip)
    try:
        async with _transaction(request) as session:
            if grant_type == "wechat":
                token = await wechat.login(session, state.wechat, state.wechat_tickets, ring,
                                           _parse(WeChatGrant, form), lifetimes)
            else:
                token = await wechat.phone_login(session, state.wechat, ring, _parse(WeChatPhoneGrant, form),
                                                 lifetimes)
    except (WeChatCodeRefused, InvalidGrant):
        await throttle.failed(who, ip)
        raise
    await throttle.succeeded(who, ip)
    return JSONResponse(token.model_dump(exclude_none=True), headers=NO_STORE)


@router.post("/auth/revoke", summary="吊销令牌",
             status_code=200, response_class=Response, responses=responses(InvalidRequest),
             openapi_extra={"requestBody": {"required": True, "content": {FORM: {"schema": {
                 "type": "object", "required": ["token"],
                 "properties": {"token": {"type": "string"}, "token_type_hint": {"type": "string"}}}}}}})
async def revoke(request: Request, session: SessionDep) -> Response:
    """RFC 7009 token revocation: a refresh token revokes its whole login (family). Always 200,
    known token or not; access tokens are short-lived and simply expire."""
    data = _parse(Revocation, await _read_form(request))
    await service.revoke_refresh_token(session, data.token, "holder")
    return Response(status_code=200, headers=NO_STORE)


@router.post("/auth/logout", summary="退出登录", status_code=204, responses=responses(*AUTH_ERRORS, InvalidRequest))
async def logout(request: Request, session: SessionDep, caller: Caller("session.logout")) -> Response:
    """End this login (send its `refresh_token`, form-encoded) or, with an empty body, every login."""
    raw = None
    if int(request.headers.get("content-length") or 0) > 0:
        form = await _read_form(request)
        raw = form.get("refresh_token") or None
    await service.logout(session, caller, raw)
    return Response(status_code=204)


@router.post("/auth/signing-keys", status_code=201, response_model=SigningKeyRead,
             responses=responses(*AUTH_ERRORS))
async def rotate_signing_key(request: Request, data: SigningKeyCreate, admin: KeyAdmin) -> SigningKeyRead:
    """Key rotation: a new key signs from now on; the older ones stay in the JWKS (their tokens
    still verify) until retired. Other replicas pick the new key up within a minute, or at once
    when they meet a token it signed."""
    passphrase = request.app.state.settings.key_passphrase.get_secret_value().encode()
    async with _transaction(request) as session:
        kid = await service.add_signing_key(session, passphrase, admin, data.reason)
    await request.app.state.keyring.reload()
    return SigningKeyRead(kid=kid, signing=request.app.state.keyring.kid == kid)


@router.post("/auth/signing-keys/{kid}/retire", status_code=204,
             responses=responses(*AUTH_ERRORS, SigningKeyNotFound, SigningKeyInUse))
async def retire_signing_key(request: Request, kid: str, data: SigningKeyCreate, admin: KeyAdmin) -> Response:
    """Take an old key out of the JWKS once no unexpired token it signed is needed any more."""
    async with _transaction(request) as session:
        await service.retire_signing_key(session, kid, admin, data.reason)
    await request.app.state.keyring.reload()
    return Response(status_code=204)


@router.get("/.well-known/jwks.json", response_model=Jwks, dependencies=[Public("jwks.read")])
async def jwks(session: SessionDep, response: Response) -> Jwks:
    """The public keys access tokens are signed with (public: every service fetches it)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return Jwks.model_validate(await service.public_jwks(session))


@router.post("/auth/clients", status_code=201, response_model=OAuthClientCreated,
             responses=responses(*AUTH_ERRORS, ClientExists, InvalidRequest, InvalidField, BadIdempotencyKey,
                                 IdempotencyKeyReused))
async def create_client(data: OAuthClientCreate, session: SessionDep, idem: IdempotencyDep,
                        admin: ClientAdmin) -> JSONResponse:
    """Register a machine client: a partner city's system (interop scopes only) or one of our
    services (`svc-<name>`, scopes from the gateway's SERVICE_SCOPES). A generated secret is in
    this answer only; a replay of the same Idempotency-Key answers without it."""
    if (replay := await idem.claim(session, admin.sub)) is not None:
        return replay
    secret = data.secret or secrets.token_urlsafe(32)
    if data.kind == "partner":
        if not (data.client_id and data.partner and data.name):
            raise InvalidField("client_id" if not data.client_id else "partner" if not data.partner else "name",
                               "a partner client needs client_id, name and partner")
        client = await service.register_client(session, data.client_id, secret, data.name, data.partner,
                                               tuple(data.scopes), admin)
    else:
        if not data.service:
            raise InvalidField("service", "a service client names its service")
        client = await service.register_service_client(session, data.service, secret, admin)
    read = OAuthClientRead.model_validate(client)
    stored = await idem.remember(session, 201, OAuthClientCreated(**read.model_dump()))
    if data.secret is not None:
        return stored
    return JSONResponse(OAuthClientCreated(**read.model_dump(), client_secret=secret).model_dump(mode="json"),
                        status_code=201, headers=NO_STORE)


@router.get("/auth/clients", response_model=Page[OAuthClientRead], responses=responses(*AUTH_ERRORS))
async def list_clients(session: SessionDep, page: PageDep, _: ClientReader) -> Page[OAuthClientRead]:
    """Partner and service clients, newest first (never their secrets)."""
    return await service.list_clients(session, page)


@router.post("/auth/clients/{client_id}/{action}", response_model=OAuthClientRead,
             responses=responses(*AUTH_ERRORS, ClientNotFound))
async def switch_client(client_id: str, action: Literal["deactivate", "activate"], data: OAuthClientStatus,
                        session: SessionDep, admin: ClientSwitcher) -> OAuthClientRead:
    """Switch a client off (its next token request is refused) or back on, with a reason."""
    client = await service.set_client_active(session, client_id, action == "activate", data.reason, admin)
    return OAuthClientRead.model_validate(client)
