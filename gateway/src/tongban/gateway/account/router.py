from fastapi import APIRouter

from tongban.gateway.account.schemas import UserInfo
from tongban.shared.auth import AUTH_ERRORS, AnyPrincipal
from tongban.shared.errors import responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.get("/userinfo", response_model=UserInfo, response_model_exclude_none=True,
            responses=responses(*AUTH_ERRORS))
async def userinfo(caller: AnyPrincipal) -> UserInfo:
    """Who the access token says the caller is (OpenID Connect style userinfo)."""
    claims = caller.claims
    return UserInfo(sub=caller.sub, role=caller.role, name=caller.name, scope=claims.get("scope", ""),
                    id_number=caller.id_number, credit_code=caller.credit_code, department=caller.department,
                    hall=caller.hall)
