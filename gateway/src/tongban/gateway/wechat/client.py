"""WeChat's server APIs for mini-programs, through their documented HTTP interface (httpx):
code2session for a `wx.login` code, the stable access_token, getuserphonenumber for a
`getPhoneNumber` code. The base URL, the appids and their secrets are configuration
(GATEWAY_WECHAT_API_URL, GATEWAY_WECHAT_APPS); `make run` and the tests point the URL at the
local simulator (wechat/simulator.py).

The access_token comes from `stable_token`: every gateway process gets the same token until it
expires, so one process fetching a token never invalidates another's (as `/cgi-bin/token`
does). It is kept per appid until a minute before its expiry; 40001/42001 on a call fetch a new
one (force_refresh) and try once more."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from tongban.gateway.wechat.errors import UnknownMiniProgram, WeChatCodeRefused, WeChatUnavailable
from tongban.shared import clock

# errcodes meaning the code itself is bad (the user's side: log in again with a new code).
CODE_ERRORS = {40029: "invalid code", 40163: "code been used", 40226: "high-risk user blocked"}
TOKEN_ERRORS = {40001, 42001, 40014}
TOKEN_MARGIN = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class WeChatSession:
    appid: str
    openid: str
    unionid: str | None


@dataclass(frozen=True)
class WeChatPhone:
    appid: str
    phone: str          # without the country code (purePhoneNumber)
    country_code: str


class WeChatClient:
    def __init__(self, base_url: str, apps: dict[str, SecretStr], timeout: float = 5.0) -> None:
        self.apps = apps
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
        self._tokens: dict[str, tuple[str, dt.datetime]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def close(self) -> None:
        await self.http.aclose()

    def _secret(self, appid: str) -> str:
        secret = self.apps.get(appid)
        if secret is None:
            raise UnknownMiniProgram(f"appid {appid[:40]!r} is not one of this city's mini-programs")
        return secret.get_secret_value()

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.http.request(method, path, **kwargs)
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise WeChatUnavailable(f"WeChat did not answer: {type(exc).__name__}") from exc
        if response.status_code != 200 or not isinstance(answer, dict):
            raise WeChatUnavailable(f"WeChat answered HTTP {response.status_code}")
        return answer

    @staticmethod
    def _errcode(answer: dict[str, Any]) -> int:
        code = answer.get("errcode", 0)
        return code if isinstance(code, int) else -1

    def _refuse(self, answer: dict[str, Any], what: str) -> None:
        errcode = self._errcode(answer)
        if errcode in CODE_ERRORS:
            raise WeChatCodeRefused(f"WeChat refused the {what}: {CODE_ERRORS[errcode]} ({errcode}); "
                                    f"call {what} again for a new code", wechat_errcode=errcode)
        if errcode != 0:
            # -1 busy, 45011 frequency limit, 40013/40125 our own configuration: not the user's fault.
            raise WeChatUnavailable(f"WeChat answered errcode {errcode}", wechat_errcode=errcode)

    async def code2session(self, appid: str, code: str) -> WeChatSession:
        """The WeChat user behind a `wx.login` code (single use, valid 5 minutes)."""
        secret = self._secret(appid)
        answer = await self._call("GET", "/sns/jscode2session", params={
            "appid": appid, "secret": secret, "js_code": code, "grant_type": "authorization_code"})
        self._refuse(answer, "wx.login")
        openid, unionid = answer.get("openid"), answer.get("unionid")
        if not isinstance(openid, str) or not openid:
            raise WeChatUnavailable("WeChat's answer names no openid")
        return WeChatSession(appid, openid, unionid if isinstance(unionid, str) and unionid else None)

    async def _access_token(self, appid: str, force: bool = False) -> str:
        lock = self._locks.setdefault(appid, asyncio.Lock())
        async with lock:
            kept = self._tokens.get(appid)
            if kept is not None and not force and kept[1] - TOKEN_MARGIN > clock.now():
                return kept[0]
            answer = await self._call("POST", "/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": appid, "secret": self._secret(appid),
                "force_refresh": force})
            if self._errcode(answer) != 0 or not isinstance(answer.get("access_token"), str):
                raise WeChatUnavailable(f"WeChat gave no access_token (errcode {self._errcode(answer)})",
                                        wechat_errcode=self._errcode(answer))
            expires_in = answer.get("expires_in")
            lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 7200
            token = answer["access_token"]
            self._tokens[appid] = (token, clock.now() + dt.timedelta(seconds=lifetime))
            return token

    async def phone_number(self, appid: str, code: str) -> WeChatPhone:
        """The phone number behind a `getPhoneNumber` code, as WeChat confirms it."""
        self._secret(appid)
        for attempt in (0, 1):
            token = await self._access_token(appid, force=attempt == 1)
            answer = await self._call("POST", "/wxa/business/getuserphonenumber",
                                      params={"access_token": token}, json={"code": code})
            if self._errcode(answer) in TOKEN_ERRORS and attempt == 0:
                continue
            break
        self._refuse(answer, "getPhoneNumber")
        info = answer.get("phone_info")
        if not isinstance(info, dict) or not isinstance(info.get("purePhoneNumber"), str):
            raise WeChatUnavailable("WeChat's answer carries no phone number")
        watermark = info.get("watermark")
        if isinstance(watermark, dict) and watermark.get("appid") not in (None, appid):
            raise WeChatUnavailable("WeChat's answer is watermarked for another mini-program")
        return WeChatPhone(appid, info["purePhoneNumber"], str(info.get("countryCode") or "86"))
