import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from tongban.gateway.policy import ERRORS as AUTH_ERRORS
from tongban.gateway.policy import Caller
from tongban.gateway.wechat import service
from tongban.gateway.wechat.client import WeChatClient
from tongban.gateway.wechat.errors import (
    AccountHasOtherWeChat, InvalidBindTicket, PhoneBoundElsewhere, UnknownMiniProgram, WeChatBindingNotFound,
    WeChatBoundElsewhere, WeChatCodeRefused, WeChatUnavailable,
)
from tongban.gateway.wechat.schemas import PhoneConfirm, PhoneConfirmed, WeChatBind, WeChatBindingRead
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.pagination import Page, PageDep

router = APIRouter(prefix="/auth/wechat", tags=["wechat"])
Binder = Caller("wechat.bind")
Holder = Caller("wechat.own")
WECHAT_ERRORS = (UnknownMiniProgram, WeChatCodeRefused, WeChatUnavailable)


async def wechat_client(request: Request) -> WeChatClient:
    return request.app.state.wechat


async def bind_tickets(request: Request) -> service.Tickets:
    return request.app.state.wechat_tickets


WeChatDep = Annotated[WeChatClient, Depends(wechat_client)]
TicketsDep = Annotated[service.Tickets, Depends(bind_tickets)]


@router.post("/bindings", status_code=201, response_model=WeChatBindingRead,
             responses=responses(*AUTH_ERRORS, *WECHAT_ERRORS, InvalidBindTicket, WeChatBoundElsewhere,
                                 AccountHasOtherWeChat))
async def bind_wechat(data: WeChatBind, session: SessionDep, caller: Binder, wechat: WeChatDep,
                      tickets: TicketsDep) -> WeChatBindingRead:
    """绑定微信: bind the caller's account (a citizen with a verified real name) to a WeChat user,
    with the `bind_ticket` of a `wechat_not_bound` answer or a fresh `wx.login` code. From then on
    `grant_type=wechat` logs this WeChat user straight in, in every mini-program of the city
    (unionid). Binding the same user again answers the same binding."""
    if data.bind_ticket is not None:
        who = tickets.read(data.bind_ticket)
    else:
        assert data.appid is not None and data.code is not None  # the schema allows one way or the other
        who = await wechat.code2session(data.appid, data.code)
    return WeChatBindingRead.of(await service.bind(session, caller, who))


@router.get("/bindings", response_model=Page[WeChatBindingRead], responses=responses(*AUTH_ERRORS))
async def list_wechat_bindings(session: SessionDep, page: PageDep, caller: Holder) -> Page[WeChatBindingRead]:
    """The caller's WeChat bindings (one per mini-program the person used)."""
    return await service.list_bindings(session, caller, page)


@router.delete("/bindings/{binding_id}", status_code=204, responses=responses(*AUTH_ERRORS, WeChatBindingNotFound))
async def unbind_wechat(binding_id: uuid.UUID, session: SessionDep, caller: Holder) -> Response:
    """解绑微信: remove a binding (with every binding of the same WeChat user in the city's other
    mini-programs); the WeChat user then logs in with a password again."""
    await service.unbind(session, caller, binding_id)
    return Response(status_code=204)


@router.post("/phone", response_model=PhoneConfirmed,
             responses=responses(*AUTH_ERRORS, *WECHAT_ERRORS, PhoneBoundElsewhere))
async def confirm_phone(data: PhoneConfirm, session: SessionDep, caller: Binder, wechat: WeChatDep) -> PhoneConfirmed:
    """绑定手机号: the caller's phone number becomes the one WeChat confirms for a `getPhoneNumber`
    code; `grant_type=wechat_phone` then logs in with it. One account per confirmed number."""
    phone = await wechat.phone_number(data.appid, data.code)
    account = await service.confirm_phone(session, caller, phone)
    assert account.phone is not None and account.phone_verified_at is not None
    return PhoneConfirmed(phone=account.phone, phone_verified_at=account.phone_verified_at)
