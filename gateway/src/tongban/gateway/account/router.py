import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from tongban.gateway.account import service
from tongban.gateway.account.errors import (
    AccountNotFound, CannotDeactivateSelf, NotACitizen, NotStaff, PersonHasAccount, UsernameTaken,
)
from tongban.gateway.protection.hashing import HashingBusy
from tongban.gateway.protection.limits import RateLimited, registration_allowed
from tongban.gateway.account.schemas import (
    AccountCreate, AccountRead, AccountStatusChange, CitizenRegistration, RealNameVerification,
    RegistrationAccepted, Role, StaffScope, UserInfo,
)
from tongban.gateway.policy import ERRORS as AUTH_ERRORS
from tongban.gateway.policy import POLICY, Caller, Public
from tongban.shared.auth import NotOwner
from tongban.shared.policy import allows
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses
from tongban.shared.idempotency import BadIdempotencyKey, IdempotencyDep, IdempotencyKeyReused
from tongban.shared.pagination import Page, PageDep

router = APIRouter(prefix="/auth", tags=["accounts"])
AccountCreator = Caller("account.create")
AccountScoper = Caller("account.scope")
AccountSwitcher = Caller("account.switch")
AccountReader = Caller("account.list")
RealNameVerifier = Caller("real_name.counter_verify")
IDEMPOTENCY_ERRORS = (BadIdempotencyKey, IdempotencyKeyReused)


@router.get("/userinfo", summary="我的账号信息", response_model=UserInfo, response_model_exclude_none=True,
            responses=responses(*AUTH_ERRORS))
async def userinfo(caller: Caller("userinfo.read")) -> UserInfo:
    """Who the access token says the caller is (OpenID Connect style userinfo)."""
    claims = caller.claims
    return UserInfo(sub=caller.sub, role=caller.role, name=caller.name, scope=claims.get("scope", ""),
                    id_number=caller.id_number, credit_code=caller.credit_code, department=caller.department,
                    hall=caller.hall, counter=claims.get("counter"), real_name_level=claims.get("real_name_level"),
                    halls=sorted(caller.halls) or None, departments=sorted(caller.departments) or None,
                    company_role=claims.get("company_role"), agent_for=claims.get("agent_for"),
                    partner=caller.partner)


@router.post("/register", summary="注册账号", status_code=202, response_model=RegistrationAccepted,
             dependencies=[Public("account.register"), Depends(registration_allowed)],
             responses=responses(RateLimited, HashingBusy, *IDEMPOTENCY_ERRORS))
async def register(data: CitizenRegistration, session: SessionDep, idem: IdempotencyDep) -> JSONResponse:
    """Citizen self-registration (public): name, resident ID number, phone and password.

    Always 202 with the same body, whether or not the username or the ID number is taken (that
    is not told to whoever asks). The real-name level starts as `self_declared`: verify it with
    a real-name provider (`/auth/real-name/verifications`) or at a counter."""
    if (replay := await idem.claim(session, "public:register")) is not None:
        return replay
    await service.register_citizen(session, data)
    return await idem.remember(session, 202, RegistrationAccepted())


@router.post("/accounts", status_code=201, response_model=AccountRead,
             responses=responses(*AUTH_ERRORS, UsernameTaken, PersonHasAccount, *IDEMPOTENCY_ERRORS))
async def create_account(data: AccountCreate, session: SessionDep, idem: IdempotencyDep,
                         admin: AccountCreator) -> JSONResponse:
    """An admin creates an account of any role: staff (clerk with hall and counter, approver with
    department, admin, auditor), company users (legal representative or agent), citizens."""
    if (replay := await idem.claim(session, admin.sub)) is not None:
        return replay
    account = await service.create_account(session, data, admin)
    return await idem.remember(session, 201, AccountRead.of(account, owner=False))


@router.get("/accounts", response_model=Page[AccountRead], responses=responses(*AUTH_ERRORS))
async def list_accounts(session: SessionDep, page: PageDep, caller: AccountReader,
                        role: Annotated[Role | None, Query()] = None) -> Page[AccountRead]:
    """Accounts, oldest first; resident ID and phone numbers masked."""
    return await service.list_accounts(session, page, caller, role)


@router.get("/accounts/{account_id}", response_model=AccountRead,
            responses=responses(*AUTH_ERRORS, NotOwner, AccountNotFound))
async def get_account(account_id: uuid.UUID, session: SessionDep,
                      caller: Caller("account.read")) -> AccountRead:
    """One account: its owner sees it whole, holders of `accounts:read` masked."""
    owner = caller.sub == str(account_id)
    if not owner and not allows(POLICY, "account.read.any", caller):
        raise NotOwner()
    return AccountRead.of(await service.get_account(session, account_id), owner=owner)


@router.post("/accounts/{account_id}/real-name-verification", response_model=AccountRead,
             responses=responses(*AUTH_ERRORS, AccountNotFound, NotACitizen))
async def verify_real_name(account_id: uuid.UUID, data: RealNameVerification, session: SessionDep,
                           clerk: RealNameVerifier) -> AccountRead:
    """A clerk, having checked the ID card at the counter, raises the level to `counter_verified`."""
    return AccountRead.of(await service.verify_real_name(session, account_id, clerk, data), owner=False)


@router.put("/accounts/{account_id}/scope", response_model=AccountRead,
            responses=responses(*AUTH_ERRORS, AccountNotFound, NotStaff))
async def set_staff_scope(account_id: uuid.UUID, data: StaffScope, session: SessionDep,
                          admin: AccountScoper) -> AccountRead:
    """An admin sets a clerk's halls and departments or an approver's departments, with the
    reason. The scope travels in the access token, so the account's current tokens are refused
    from the next request on and its next login carries the new scope."""
    return AccountRead.of(await service.set_scope(session, account_id, admin, data), owner=False)


@router.post("/accounts/{account_id}/{action}", response_model=AccountRead,
             responses=responses(*AUTH_ERRORS, AccountNotFound, CannotDeactivateSelf))
async def switch_account(account_id: uuid.UUID, action: Literal["deactivate", "activate"],
                         data: AccountStatusChange, session: SessionDep, admin: AccountSwitcher) -> AccountRead:
    """Switch an account off, with the reason: its logins end and the access tokens it holds are
    refused from the next request on, at every gateway. Or switch it back on."""
    account = await service.set_active(session, account_id, action == "activate", admin, data)
    return AccountRead.of(account, owner=False)
