import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

AppId = Annotated[str, Field(min_length=4, max_length=32, pattern=r"^wx[0-9A-Za-z]+$",
                             description="the mini-program's appid")]
WxCode = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[0-9A-Za-z_-]+$")]


class WeChatGrant(BaseModel):
    """`grant_type=wechat`: the code `wx.login` gave the mini-program, and its appid."""

    appid: AppId
    code: WxCode
    scope: str | None = Field(default=None, max_length=1000)


class WeChatPhoneGrant(BaseModel):
    """`grant_type=wechat_phone`: the code `getPhoneNumber` gave the mini-program, and its appid."""

    appid: AppId
    code: WxCode
    scope: str | None = Field(default=None, max_length=1000)


class WeChatBind(BaseModel):
    """Bind the caller's account to a WeChat user: the `bind_ticket` of a `wechat_not_bound`
    answer (10 minutes), or a fresh `wx.login` code with its appid."""

    model_config = ConfigDict(extra="forbid")

    bind_ticket: str | None = Field(default=None, min_length=10, max_length=2000)
    appid: AppId | None = None
    code: WxCode | None = None

    @model_validator(mode="after")
    def _one_way(self) -> "WeChatBind":
        if (self.bind_ticket is None) == (self.appid is None or self.code is None):
            raise ValueError("send either bind_ticket, or appid and code (not both)")
        return self


class WeChatBindingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    appid: str
    openid: str
    unionid_linked: bool = Field(description="the binding holds in every mini-program of the city (unionid)")
    created_at: dt.datetime
    last_login_at: dt.datetime | None

    @classmethod
    def of(cls, identity: object) -> "WeChatBindingRead":
        return cls(id=identity.id, appid=identity.appid, openid=identity.openid,  # type: ignore[attr-defined]
                   unionid_linked=identity.unionid is not None,  # type: ignore[attr-defined]
                   created_at=identity.created_at, last_login_at=identity.last_login_at)  # type: ignore[attr-defined]


class PhoneConfirm(BaseModel):
    """The code `getPhoneNumber` gave the mini-program: WeChat confirms the number."""

    model_config = ConfigDict(extra="forbid")

    appid: AppId
    code: WxCode


class PhoneConfirmed(BaseModel):
    phone: str = Field(description="the caller's own number, unmasked")
    phone_verified_at: dt.datetime
