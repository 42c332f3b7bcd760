"""Notification routes (`/api/v1/gateway/notify/...`): the in-app inbox and preferences of the
caller's own account, WeChat subscribe authorisations, and for admins the deliveries (dead letters
included), the escalation contacts and the local providers' sink. Parse, authorise, call the service."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from tongban.gateway.notify import repository, service
from tongban.gateway.notify.config import NotifySettings
from tongban.gateway.notify.errors import (AccountGone, ContactAccountUnfit, DeliveryNotFailed, DeliveryNotFound, MessageNotFound,
                                           SinkNotConfigured)
from tongban.gateway.notify.schemas import (ContactCreate, ContactRead, DeliveryRead, GrantCreate, GrantRead,
                                            MessageRead, PreferenceRead, PreferenceUpdate, ReadAll, Retry, SinkRead,
                                            UnreadCount)
from tongban.gateway.policy import ERRORS as AUTH_ERRORS
from tongban.gateway.policy import Caller
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import BadIdempotencyKey, IdempotencyDep, IdempotencyKeyReused
from tongban.shared.ids import mask_phone
from tongban.shared.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/notify", tags=["notifications"])
InboxOwner = Caller("notify.inbox")
PreferenceOwner = Caller("notify.preferences")
IDEMPOTENCY_ERRORS = (BadIdempotencyKey, IdempotencyKeyReused)


def _settings(request: Request) -> NotifySettings:
    found = getattr(request.app.state, "notify_settings", None)
    return found if found is not None else NotifySettings()


@router.get("/inbox", response_model=Page[MessageRead], responses=responses(*AUTH_ERRORS))
async def inbox(session: SessionDep, page: PageDep, caller: InboxOwner,
                unread: Annotated[bool, Query(description="only unread messages")] = False) -> Page[MessageRead]:
    """The caller's messages, newest first."""
    return await paginate(session, repository.inbox_stmt(uuid.UUID(caller.sub), unread), page,
                          MessageRead.model_validate)


@router.get("/inbox/unread-count", response_model=UnreadCount, responses=responses(*AUTH_ERRORS))
async def unread_count(session: SessionDep, caller: InboxOwner) -> UnreadCount:
    return UnreadCount(unread=await repository.unread_count(session, uuid.UUID(caller.sub)))


@router.post("/inbox/read-all", response_model=ReadAll, responses=responses(*AUTH_ERRORS))
async def read_all(session: SessionDep, caller: InboxOwner) -> ReadAll:
    """Mark every message of the caller read."""
    return ReadAll(marked=await service.mark_all_read(session, caller))


@router.get("/inbox/{message_id}", response_model=MessageRead, responses=responses(*AUTH_ERRORS, MessageNotFound))
async def one_message(message_id: uuid.UUID, session: SessionDep, caller: InboxOwner) -> MessageRead:
    return MessageRead.model_validate(await service.get_message(session, caller, message_id))


@router.post("/inbox/{message_id}/read", response_model=MessageRead,
             responses=responses(*AUTH_ERRORS, MessageNotFound))
async def mark_read(message_id: uuid.UUID, session: SessionDep, caller: InboxOwner) -> MessageRead:
    """Mark one of the caller's messages read (again: no change)."""
    return MessageRead.model_validate(await service.mark_read(session, caller, message_id))


def _preference_read(pref, settings: NotifySettings) -> PreferenceRead:  # noqa: ANN001
    start, end = service.quiet_hours_of(pref, settings)
    if pref is None:
        return PreferenceRead(quiet_start=start, quiet_end=end)
    return PreferenceRead(sms=pref.sms, wechat=pref.wechat, quiet_start=start, quiet_end=end,
                          phone=mask_phone(pref.phone) if pref.phone else None, muted=list(pref.muted or []))


@router.get("/preferences", response_model=PreferenceRead, responses=responses(*AUTH_ERRORS))
async def preferences(request: Request, session: SessionDep, caller: PreferenceOwner) -> PreferenceRead:
    """The caller's channels, quiet hours (Beijing time), SMS number (masked) and muted kinds."""
    return _preference_read(await repository.preference(session, uuid.UUID(caller.sub)), _settings(request))


@router.put("/preferences", response_model=PreferenceRead, responses=responses(*AUTH_ERRORS, AccountGone))
async def set_preferences(data: PreferenceUpdate, request: Request, session: SessionDep,
                          caller: PreferenceOwner) -> PreferenceRead:
    """Change the caller's preferences (only the fields given). A phone that is not a mainland
    mobile number is 422."""
    return _preference_read(await service.update_preferences(session, caller, data), _settings(request))


@router.post("/wechat-authorisations", status_code=201, response_model=GrantRead,
             responses=responses(*AUTH_ERRORS, AccountGone, *IDEMPOTENCY_ERRORS))
async def authorise_wechat(data: GrantCreate, session: SessionDep, idem: IdempotencyDep,
                           caller: Caller("notify.wechat_authorise")) -> JSONResponse:
    """Record the resident's one-time authorisation (订阅消息) of one template: the next message of
    that template goes to WeChat too, and consumes it."""
    if (replay := await idem.claim(session, caller.sub)) is not None:
        return replay
    grant = await service.record_grant(session, caller, data)
    return await idem.remember(session, 201, GrantRead.model_validate(grant))


@router.get("/deliveries", response_model=Page[DeliveryRead], responses=responses(*AUTH_ERRORS))
async def deliveries(session: SessionDep, page: PageDep, _: Caller("notify.delivery.read"),
                     status: Annotated[Literal["scheduled", "sent", "delivered", "failed"] | None,
                                       Query(description="failed: the dead letters")] = None,
                     account_id: uuid.UUID | None = None) -> Page[DeliveryRead]:
    """Deliveries, latest change first (mobile numbers masked)."""
    return await paginate(session, repository.deliveries_stmt(status, account_id), page, DeliveryRead.of)


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryRead,
             responses=responses(*AUTH_ERRORS, DeliveryNotFound, DeliveryNotFailed))
async def retry(delivery_id: uuid.UUID, data: Retry, request: Request, session: SessionDep,
                admin: Caller("notify.delivery.retry")) -> DeliveryRead:
    """Send a dead letter again, with the reason."""
    return DeliveryRead.of(await service.retry(session, admin, delivery_id, data.reason, _settings(request)))


@router.get("/escalation-contacts", response_model=Page[ContactRead], responses=responses(*AUTH_ERRORS))
async def contacts(session: SessionDep, page: PageDep, _: Caller("notify.escalation.read")) -> Page[ContactRead]:
    """Who hears of overdue cases beyond the department's approvers: heads and the supervising office."""
    return await paginate(session, repository.contacts_stmt(), page, ContactRead.model_validate)


@router.post("/escalation-contacts", status_code=201, response_model=ContactRead,
             responses=responses(*AUTH_ERRORS, ContactAccountUnfit, *IDEMPOTENCY_ERRORS))
async def add_contact(data: ContactCreate, session: SessionDep, idem: IdempotencyDep,
                      admin: Caller("notify.escalation.manage")) -> JSONResponse:
    """Name a department's head, or a member of the supervising office (督办) for one department or all."""
    if (replay := await idem.claim(session, admin.sub)) is not None:
        return replay
    contact = await service.add_contact(session, admin, data)
    return await idem.remember(session, 201, ContactRead.model_validate(contact))


@router.get("/sink", response_model=Page[SinkRead], responses=responses(*AUTH_ERRORS, SinkNotConfigured))
async def sink(request: Request, session: SessionDep, page: PageDep, _: Caller("notify.sink.read"),
               channel: Annotated[Literal["sms", "wechat"] | None, Query()] = None) -> Page[SinkRead]:
    """Development: what the local providers would have sent, newest first (404 with real providers)."""
    settings = _settings(request)
    if channel is None and "local" not in (settings.sms_provider, settings.wechat_provider):
        raise SinkNotConfigured()
    if channel is not None and getattr(settings, f"{channel}_provider") != "local":
        raise SinkNotConfigured()
    return await paginate(session, repository.sink_stmt(channel), page, SinkRead.of)
