"""A local WeChat: the few server APIs the gateway calls, behaving as WeChat's do, for `make run`
and the tests (WeChat's servers are outside the platform).

WeChat's side, as documented for mini-programs:
- `GET /sns/jscode2session` (appid, secret, js_code, grant_type=authorization_code): a `wx.login`
  code for the user's `openid` (one per mini-program), `session_key` and, when the mini-program is
  bound to the city's open-platform account, `unionid` (one per person across its mini-programs);
- `GET /cgi-bin/token` and `POST /cgi-bin/stable_token`: the mini-program's access_token
  (`expires_in` 7200 s; the stable one is the same for every caller until it expires);
- `POST /wxa/business/getuserphonenumber?access_token=...` (`{"code"}`): the phone number the user
  agreed to share (`getPhoneNumber`), with a watermark naming the appid.

As WeChat does: the appid and secret are checked (40013 invalid appid, 40125 invalid appsecret),
codes are single use (40163 code been used) and expire after 5 minutes or belong to one appid
(40029 invalid code), an unknown access_token is 40001 and an expired one 42001; errors are HTTP
200 with `errcode` and `errmsg`.

The phone's side, which WeChat's client does on the device: `POST /simulator/login`
(`{"appid", "user"}`: the code `wx.login` would give this WeChat user in this mini-program) and
`POST /simulator/phone` (`{"appid", "user", "phone_number"}`: the code of `getPhoneNumber`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tongban.shared import clock

CODE_LIFETIME = dt.timedelta(minutes=5)
TOKEN_LIFETIME = 7200
# The demo city's mini-programs (appid -> AppSecret), both bound to one open-platform account:
# 中山通办 (residents) and 中山办事大厅 (queue and appointments). Development only.
DEV_APPS = {"wx1a2b3c4d5e6f7001": "dev-only-wechat-secret-resident",
            "wx1a2b3c4d5e6f7002": "dev-only-wechat-secret-hall"}
APPS_VARIABLE = "WECHAT_SIMULATOR_APPS"


@dataclass
class _Code:
    kind: str               # "login" | "phone"
    appid: str
    user: str
    issued_at: dt.datetime
    phone: str | None = None
    used: bool = False


@dataclass
class _Token:
    appid: str
    expires_at: dt.datetime


@dataclass
class WeChatSimulator:
    """The simulated WeChat servers' state: apps, codes and access tokens, in memory."""

    apps: dict[str, str]
    open_platform: frozenset[str] | None = None   # appids bound to the open platform (None: all)
    token_lifetime: int = TOKEN_LIFETIME
    codes: dict[str, _Code] = field(default_factory=dict)
    tokens: dict[str, _Token] = field(default_factory=dict)
    stable: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def _id(prefix: str, *parts: str) -> str:
        digest = hashlib.sha256("|".join(parts).encode()).digest()
        return prefix + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:27]

    def openid(self, appid: str, user: str) -> str:
        return self._id("o", "openid", appid, user)

    def unionid(self, user: str) -> str:
        return self._id("u", "unionid", user)

    def _credentials(self, appid: str | None, secret: str | None) -> dict[str, Any] | None:
        if not appid or appid not in self.apps:
            return _error(40013, "invalid appid")
        if not secret or not secrets.compare_digest(secret.encode(), self.apps[appid].encode()):
            return _error(40125, "invalid appsecret")
        return None

    def _take(self, raw: str | None, kind: str, appid: str) -> _Code | dict[str, Any]:
        code = self.codes.get(raw or "")
        if code is None or code.kind != kind or code.appid != appid or clock.now() - code.issued_at > CODE_LIFETIME:
            return _error(40029, "invalid code")
        if code.used:
            return _error(40163, "code been used")
        code.used = True
        return code

    def issue_code(self, kind: str, appid: str, user: str, phone: str | None = None) -> str:
        raw = secrets.token_urlsafe(24)
        self.codes[raw] = _Code(kind, appid, user, clock.now(), phone)
        now = clock.now()
        for key in [k for k, c in self.codes.items() if now - c.issued_at > 2 * CODE_LIFETIME]:
            del self.codes[key]
        return raw

    def code2session(self, params: dict[str, str]) -> dict[str, Any]:
        appid = params.get("appid")
        if (refused := self._credentials(appid, params.get("secret"))) is not None:
            return refused
        assert appid is not None
        if params.get("grant_type") != "authorization_code":
            return _error(40002, "invalid grant_type")
        code = self._take(params.get("js_code"), "login", appid)
        if isinstance(code, dict):
            return code
        answer = {"openid": self.openid(appid, code.user), "session_key": secrets.token_urlsafe(16)}
        if self.open_platform is None or appid in self.open_platform:
            answer["unionid"] = self.unionid(code.user)
        return answer

    def access_token(self, appid: str | None, secret: str | None, stable: bool, force: bool) -> dict[str, Any]:
        if (refused := self._credentials(appid, secret)) is not None:
            return refused
        assert appid is not None
        now = clock.now()
        current = self.stable.get(appid)
        live = current is not None and self.tokens[current].expires_at > now
        if stable and live and not force:
            assert current is not None
            left = int((self.tokens[current].expires_at - now).total_seconds())
            return {"access_token": current, "expires_in": left}
        raw = secrets.token_urlsafe(48)
        self.tokens[raw] = _Token(appid, now + dt.timedelta(seconds=self.token_lifetime))
        self.stable[appid] = raw
        return {"access_token": raw, "expires_in": self.token_lifetime}

    def phone_number(self, access_token: str | None, body: dict[str, Any]) -> dict[str, Any]:
        token = self.tokens.get(access_token or "")
        if token is None:
            return _error(40001, "invalid credential, access_token is invalid or not latest")
        if token.expires_at <= clock.now():
            return _error(42001, "access_token expired")
        raw = body.get("code")
        code = self._take(raw if isinstance(raw, str) else None, "phone", token.appid)
        if isinstance(code, dict):
            return code
        assert code.phone is not None
        return {"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": code.phone, "purePhoneNumber": code.phone, "countryCode": "86",
            "watermark": {"timestamp": int(clock.timestamp()), "appid": token.appid}}}


def _error(errcode: int, errmsg: str) -> dict[str, Any]:
    # WeChat appends a request id to every error message.
    return {"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}"}


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def create_app(sim: WeChatSimulator | None = None) -> Starlette:
    """The simulator as an ASGI app (uvicorn's `--factory` calls it with no argument: the apps
    then come from WECHAT_SIMULATOR_APPS, JSON appid -> secret, or the demo city's)."""
    if sim is None:
        raw = os.environ.get(APPS_VARIABLE)
        sim = WeChatSimulator(json.loads(raw) if raw else dict(DEV_APPS))
    state = sim

    async def jscode2session(request: Request) -> JSONResponse:
        return JSONResponse(state.code2session(dict(request.query_params)))

    async def token(request: Request) -> JSONResponse:
        q = request.query_params
        if q.get("grant_type") != "client_credential":
            return JSONResponse(_error(40002, "invalid grant_type"))
        return JSONResponse(state.access_token(q.get("appid"), q.get("secret"), stable=False, force=False))

    async def stable_token(request: Request) -> JSONResponse:
        body = await _json(request)
        if body.get("grant_type") != "client_credential":
            return JSONResponse(_error(40002, "invalid grant_type"))
        appid, secret = body.get("appid"), body.get("secret")
        return JSONResponse(state.access_token(appid if isinstance(appid, str) else None,
                                               secret if isinstance(secret, str) else None,
                                               stable=True, force=body.get("force_refresh") is True))

    async def phone(request: Request) -> JSONResponse:
        return JSONResponse(state.phone_number(request.query_params.get("access_token"), await _json(request)))

    async def device_login(request: Request) -> JSONResponse:
        body = await _json(request)
        appid, user = body.get("appid"), body.get("user")
        if not isinstance(appid, str) or appid not in state.apps or not isinstance(user, str) or not user:
            return JSONResponse({"errMsg": "login:fail invalid appid or user"}, status_code=400)
        return JSONResponse({"errMsg": "login:ok", "code": state.issue_code("login", appid, user)})

    async def device_phone(request: Request) -> JSONResponse:
        body = await _json(request)
        appid, user, number = body.get("appid"), body.get("user"), body.get("phone_number")
        if (not isinstance(appid, str) or appid not in state.apps or not isinstance(user, str) or not user
                or not isinstance(number, str) or not number.isdigit()):
            return JSONResponse({"errMsg": "getPhoneNumber:fail invalid appid, user or phone_number"}, status_code=400)
        return JSONResponse({"errMsg": "getPhoneNumber:ok", "code": state.issue_code("phone", appid, user, number)})

    async def ready(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ready"})

    app = Starlette(routes=[
        Route("/sns/jscode2session", jscode2session),
        Route("/cgi-bin/token", token),
        Route("/cgi-bin/stable_token", stable_token, methods=["POST"]),
        Route("/wxa/business/getuserphonenumber", phone, methods=["POST"]),
        Route("/simulator/login", device_login, methods=["POST"]),
        Route("/simulator/phone", device_phone, methods=["POST"]),
        Route("/readyz", ready),
    ])
    app.state.simulator = sim
    return app
