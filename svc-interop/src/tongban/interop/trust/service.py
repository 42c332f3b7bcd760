"""深中互认: each city's licence issuer keys in the other's trust list, and verification of a
city's licences on the other's behalf.

Both cities publish their svc-credentials issuer keys to each other through a signed exchange
(`credentials.keys`); a pull takes the partner's keys and puts them, as the partner's entry,
into our svc-credentials' trust list (PUT /trusted-issuers/{region}, scope credentials:trust),
so our verifiers accept the partner's licences offline. A partner may also hand us a
presentation of one of our licences to verify (`credentials.verify`), answered by our
svc-credentials' public verification.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx

from tongban.interop.trust.schemas import TrustedKey
from tongban.shared.errors import InvalidField
from tongban.shared.service_auth import UpstreamUnavailable

KEYS = "/api/v1/credentials/keys"
VERIFICATIONS = "/api/v1/credentials/verifications"
TRUSTED = "/api/v1/credentials/trusted-issuers/{region}"
STATUS_LISTS = "/api/v1/credentials/status-lists/{list}"
STATUS_LIST_URL = re.compile(r"^https?://[^\s]*\{list\}[^\s]*$")


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64u(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def region_prefix(region_code: str) -> str:
    """The part of a GB/T 2260 code its subdivisions share: 440300 → 4403, 442000 → 4420, 440000 → 44."""
    code = region_code
    while code.endswith("00") and len(code) > 2:
        code = code[:-2]
    return code


def issuer_in_region(issuer_code: str, region_code: str) -> bool:
    """Was the issuer registered in `region_code`? A unified social credit code (GB 32100) names
    its registration authority's region in characters 3-8."""
    return len(issuer_code) == 18 and issuer_code[2:8].isdigit() \
        and issuer_code[2:8].startswith(region_prefix(region_code))


def trusted_key(jwk: dict[str, Any], partner_region: str | None = None, own_region: str | None = None
                ) -> TrustedKey | None:
    """A published issuer JWK as a trust-list key; None for a key we cannot use (logged by the
    caller), or one claiming an issuer outside the partner's region or inside ours."""
    try:
        kid, issuer = str(jwk["kid"]), str(jwk["issuer"])
        if partner_region is not None and not issuer_in_region(issuer, partner_region):
            return None
        if own_region is not None and issuer_in_region(issuer, own_region):
            return None
        status = "active" if jwk.get("status", "active") == "active" else "retired"
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            raw = _unb64u(str(jwk["x"]))
            return TrustedKey(kid=kid, issuer_code=issuer, algorithm="Ed25519", public_key=_b64u(raw),
                              status=status) if len(raw) == 32 else None
        if jwk.get("kty") == "EC" and jwk.get("crv") == "SM2":
            x, y = _unb64u(str(jwk["x"])), _unb64u(str(jwk["y"]))
            return TrustedKey(kid=kid, issuer_code=issuer, algorithm="SM2", public_key=_b64u(b"\x04" + x + y),
                              status=status) if len(x) == 32 and len(y) == 32 else None
    except (KeyError, ValueError, TypeError):
        return None
    return None


def _need(http: httpx.AsyncClient | None) -> httpx.AsyncClient:
    if http is None:
        raise UpstreamUnavailable("svc-credentials is not configured here (INTEROP_CREDENTIALS_URL)")
    return http


async def our_issuer_keys(http: httpx.AsyncClient | None) -> list[dict[str, Any]]:
    """Our issuers' public keys, from our svc-credentials."""
    try:
        resp = await _need(http).get(KEYS)
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"svc-credentials unreachable: {type(exc).__name__}") from exc
    if resp.status_code != 200:
        raise UpstreamUnavailable(f"svc-credentials answered {resp.status_code} for its keys")
    return list(resp.json().get("keys", []))


async def verify(http: httpx.AsyncClient | None, presentation: str) -> dict[str, Any]:
    """Verify a presentation of one of our licences (svc-credentials' answer, as it gave it)."""
    try:
        resp = await _need(http).post(VERIFICATIONS, json={"presentation": presentation})
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"svc-credentials unreachable: {type(exc).__name__}") from exc
    data = resp.json() if resp.content else {}
    if resp.status_code == 200:
        return dict(data)
    if resp.status_code in (400, 422):
        raise InvalidField("presentation", str(data.get("detail") or "not a presentation svc-credentials reads"))
    raise UpstreamUnavailable(f"svc-credentials answered {resp.status_code} to a verification")


def status_list_url(published: Any) -> str | None:
    """The partner's status-list URL template, if it published a usable one (else None: the
    trust list keeps what it had)."""
    if isinstance(published, str) and len(published) <= 500 and STATUS_LIST_URL.match(published):
        return published
    return None


async def put_trusted(http: httpx.AsyncClient | None, region: str, name: str, keys: list[TrustedKey],
                      lists_url: str | None = None) -> None:
    """Replace the partner's entry in our svc-credentials' trust list (and where its status lists are)."""
    body: dict[str, Any] = {"name": name, "keys": [k.model_dump() for k in keys]}
    if lists_url is not None:
        body["status_list_url"] = lists_url
    try:
        resp = await _need(http).put(TRUSTED.format(region=region), json=body)
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"svc-credentials unreachable: {type(exc).__name__}") from exc
    if resp.status_code not in (200, 201, 204):
        code = resp.json().get("code") if resp.content else None
        raise UpstreamUnavailable(f"svc-credentials refused the trust list update: {resp.status_code} ({code})")
