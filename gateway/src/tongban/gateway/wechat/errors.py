"""WeChat login errors. Those the token endpoint answers also carry the OAuth `error` member
(RFC 6749 §5.2), as every answer of the token endpoint does."""

from typing import Any

from tongban.shared.errors import AppError, Conflict


class WeChatGrantError(AppError):
    oauth_error = "invalid_grant"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, error=self.oauth_error, error_description=detail or self.title, **extra)


class UnknownMiniProgram(WeChatGrantError):
    code, status, title = "unknown_mini_program", 400, "This appid is not one of the city's mini-programs"
    oauth_error = "invalid_request"


class WeChatCodeRefused(WeChatGrantError):
    code, status, title = "wechat_code_invalid", 400, "WeChat refused the code: it is wrong, used or expired"


class WeChatUnavailable(WeChatGrantError):
    code, status, title = "wechat_unavailable", 503, "WeChat cannot be reached now; try again shortly"
    oauth_error = "temporarily_unavailable"


class WeChatNotBound(WeChatGrantError):
    """A WeChat user no account is bound to: the client logs in (or registers, then verifies its
    real name) and binds, with the `bind_ticket` of this answer (no second wx.login needed)."""

    code, status, title = "wechat_not_bound", 400, "This WeChat user is bound to no account yet"


class PhoneNotBound(WeChatGrantError):
    code, status, title = "phone_not_bound", 400, "No account has this phone number confirmed by WeChat"


class InvalidBindTicket(AppError):
    code, status, title = "invalid_bind_ticket", 400, "The bind ticket is wrong or expired: log in with WeChat again"


class WeChatBoundElsewhere(Conflict):
    code, title = "wechat_bound_elsewhere", "This WeChat user is bound to another account"


class AccountHasOtherWeChat(Conflict):
    code, title = "account_has_other_wechat", "This account is bound to another WeChat user"


class PhoneBoundElsewhere(Conflict):
    code, title = "phone_bound_elsewhere", "This phone number is confirmed for another account"


class WeChatBindingNotFound(AppError):
    code, status, title = "wechat_binding_not_found", 404, "No such WeChat binding of yours"
