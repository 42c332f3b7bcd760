"""OAuth 2.0 token endpoint errors (RFC 6749 §5.2) in the platform's problem+json shape: the
problem's `code` and the RFC's `error` member carry the same value, so OAuth clients and
platform clients both understand the answer."""

from typing import Any

from tongban.shared.errors import AppError, Conflict, NotFound


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
    if code == "token_revoked":
        return 'Bearer error="invalid_token", error_description="the access token was revoked"'
    if code == "token_expired":
        return 'Bearer error="invalid_token", error_description="the access token expired"'
    return 'Bearer error="invalid_token"' if code == "invalid_token" else 'Bearer realm="tongban"'


class InvalidClient(OAuthError):
    code, title = "invalid_client", "Unknown client or wrong client secret"
    status = 401


class RefreshTokenReused(InvalidGrant):
    """A rotated refresh token came back: it was copied, so its whole family is revoked."""

    title = "This refresh token was already used; the session is ended"


class SigningKeyNotFound(NotFound):
    code, title = "signing_key_not_found", "No such active signing key"


class SigningKeyInUse(Conflict):
    code, title = "signing_key_in_use", "The newest key signs; add a new key before retiring it"


class ClientNotFound(NotFound):
    code, title = "client_not_found", "No such client"


class ClientExists(Conflict):
    code, title = "client_exists", "A client with this id exists"

