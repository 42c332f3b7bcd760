"""OAuth 2.0 token endpoint errors (RFC 6749 §5.2) in the platform's problem+json shape: the
problem's `code` and the RFC's `error` member carry the same value, so OAuth clients and
platform clients both understand the answer."""

from typing import Any

from tongban.shared.errors import AppError


class OAuthError(AppError):
    status = 400

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, error=self.code, error_description=detail or self.title, **extra)


class InvalidRequest(OAuthError):
    code, title = "invalid_request", "The token request is malformed"


class InvalidGrant(OAuthError):
    code, title = "invalid_grant", "Wrong username or password"


class UnsupportedGrantType(OAuthError):
    code, title = "unsupported_grant_type", "This grant type is not supported"


class InvalidScope(OAuthError):
    code, title = "invalid_scope", "The requested scope is not granted to this account"


def bearer_challenge(code: str) -> str:
    """`WWW-Authenticate` for a 401 (RFC 6750 §3): names the error when a token was sent."""
    return 'Bearer error="invalid_token"' if code == "invalid_token" else 'Bearer realm="tongban"'
