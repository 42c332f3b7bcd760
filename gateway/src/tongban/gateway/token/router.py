from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from tongban.gateway.token import service
from tongban.gateway.token.errors import InvalidGrant, InvalidRequest, InvalidScope, UnsupportedGrantType
from tongban.gateway.token.schemas import Jwks, PasswordGrant, TokenResponse
from tongban.shared.db import SessionDep
from tongban.shared.errors import responses

router = APIRouter(tags=["auth"])
FORM = "application/x-www-form-urlencoded"
_TOKEN_FORM: dict[str, Any] = {
    "type": "object", "required": ["grant_type", "username", "password"],
    "properties": {"grant_type": {"type": "string", "enum": ["password"]}, "username": {"type": "string"},
                   "password": {"type": "string", "format": "password"},
                   "scope": {"type": "string", "description": "space-separated; default: all of the role's"}},
}


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


@router.post("/auth/token", response_model=TokenResponse,
             responses=responses(InvalidRequest, InvalidGrant, UnsupportedGrantType, InvalidScope),
             openapi_extra={"requestBody": {"required": True, "content": {FORM: {"schema": _TOKEN_FORM}}}})
async def issue_token(request: Request, session: SessionDep) -> JSONResponse:
    """OAuth 2.0 token endpoint: `grant_type=password` with `username` and `password` (form-encoded)."""
    form = await _read_form(request)
    grant_type = form.pop("grant_type", None)
    if not grant_type:
        raise InvalidRequest("grant_type is missing")
    if grant_type != "password":
        raise UnsupportedGrantType(f"grant_type {grant_type[:50]!r} is not supported; use 'password'")
    try:
        grant = PasswordGrant.model_validate(form)
    except ValidationError as exc:
        names = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
        raise InvalidRequest(f"missing or invalid: {', '.join(names)}") from exc
    token = await service.password_grant(session, request.app.state.keyring, grant,
                                         request.app.state.settings.access_token_ttl)
    return JSONResponse(token.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.get("/.well-known/jwks.json", response_model=Jwks)
async def jwks(session: SessionDep, response: Response) -> Jwks:
    """The public keys access tokens are signed with (public: every service fetches it)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return Jwks.model_validate(await service.public_jwks(session))
