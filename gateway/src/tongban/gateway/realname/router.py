from typing import Annotated

from fastapi import APIRouter, Depends, Request

from tongban.gateway.account.errors import AccountNotFound, NotACitizen
from tongban.gateway.account.schemas import AccountRead
from tongban.gateway.realname import service
from tongban.gateway.realname.errors import AnswerForAnotherPerson, AnswerUsed, InvalidProviderAnswer, UnknownProvider
from tongban.gateway.realname.provider import LocalProvider
from tongban.gateway.realname.schemas import LocalAnswer, LocalCheck, RealNameSubmission
from tongban.gateway.policy import ERRORS as AUTH_ERRORS
from tongban.gateway.policy import Caller, Public
from tongban.shared.db import SessionDep
from tongban.shared.errors import NotFound, responses

router = APIRouter(prefix="/auth/real-name", tags=["real name"])
Citizen = Caller("real_name.verify")


async def providers(request: Request) -> dict:
    return request.app.state.realname_providers


@router.post("/verifications", summary="实名认证", response_model=AccountRead,
             responses=responses(*AUTH_ERRORS, NotACitizen, AccountNotFound, UnknownProvider, InvalidProviderAnswer,
                                 AnswerForAnotherPerson, AnswerUsed))
async def verify_real_name(data: RealNameSubmission, session: SessionDep, caller: Citizen,
                           known: Annotated[dict, Depends(providers)]) -> AccountRead:
    """A citizen hands in the real-name provider's signed answer (face + ID number): the account
    becomes `verified`; tokens issued from now on say so (refresh the token)."""
    return AccountRead.of(await service.verify_with_provider(session, known, caller, data), owner=True)


@router.post("/local-provider/checks", summary="实名核验（本地模拟服务）",
             response_model=LocalAnswer, responses=responses(NotFound),
             dependencies=[Public("real_name.local_provider")])
async def local_provider_check(data: LocalCheck, known: Annotated[dict, Depends(providers)]) -> LocalAnswer:
    """Public, development and tests only: the local stand-in for a real-name provider signs a
    passed face check for this person (a real provider runs in the citizen's app, not here)."""
    local = known.get("local")
    if not isinstance(local, LocalProvider):
        raise NotFound("no local real-name provider in this installation")
    return LocalAnswer(answer=local.check(data.id_number, data.name))
