"""The message contract's cryptography, in one place for both directions: HTTP Message
Signatures (RFC 9421) with Ed25519 over the body's Content-Digest (RFC 9530, sha-256) and the
interop headers; the response signed too and bound to its request by a hash of the request's
signature (as X-Road binds a response to its request).

The profile (what a partner's vendor implements):

- Request components: "@method", "@target-uri", "content-digest", "x-interop-sender",
  "x-interop-message-id", and every other `x-interop-*` / `idempotency-key` header sent.
- Response components: "@status", "content-digest", "x-interop-sender", "x-interop-message-id",
  "x-interop-request-hash".
- Parameters: created (the timestamp), nonce, keyid, alg="ed25519", tag="tongban-interop";
  label `sig1`.
- `X-Interop-Request-Hash: sha-256=:<b64>:` of `<Signature-Input value>\\n<Signature value>`.

Pure functions: no database, no HTTP client; the callers look keys up and log.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tongban.shared.errors import AppError

LABEL = "sig1"
TAG = "tongban-interop"
ALG = "ed25519"
SENDER = "x-interop-sender"
MESSAGE_ID = "x-interop-message-id"
ON_BEHALF_OF = "x-interop-on-behalf-of"
CASE = "x-interop-case"
REQUEST_HASH = "x-interop-request-hash"
IDEMPOTENCY_KEY = "idempotency-key"
REQUIRED_REQUEST = ("@method", "@target-uri", "content-digest", SENDER, MESSAGE_ID)
OPTIONAL_REQUEST = (ON_BEHALF_OF, CASE, IDEMPOTENCY_KEY)
RESPONSE_COMPONENTS = ("@status", "content-digest", SENDER, MESSAGE_ID, REQUEST_HASH)

_INPUT = re.compile(r'^sig1=\(((?:"[a-z0-9@\-]+"\s*)*)\)((?:;[a-z]+=(?:"[^"\\]*"|\d+))*)$')
_PARAM = re.compile(r';([a-z]+)=("[^"\\]*"|\d+)')
_SIGNATURE = re.compile(r"^sig1=:([A-Za-z0-9+/=]+):$")
_DIGEST = re.compile(r"(?:^|,)\s*sha-256=:([A-Za-z0-9+/=]+):")


class SignatureRefused(AppError):
    """Base of every refusal of the message contract (the `code` says which rule failed)."""

    code, status, title = "signature_refused", 401, "Message signature refused"


class SignatureMissing(SignatureRefused):
    code, title = "signature_missing", "The message is not signed (Signature, Signature-Input)"


class MalformedSignature(SignatureRefused):
    code, status, title = "signature_malformed", 400, "The message signature headers are malformed"


class UnknownKey(SignatureRefused):
    code, title = "unknown_kid", "The message is signed with a key we do not know for this sender"


class BadSignature(SignatureRefused):
    code, title = "bad_signature", "The message signature does not verify"


class DigestMismatch(SignatureRefused):
    code, status, title = "digest_mismatch", 400, "Content-Digest does not match the body"


class StaleTimestamp(SignatureRefused):
    code, title = "stale_timestamp", "The message timestamp is too far from our clock"


class ResponseNotBound(SignatureRefused):
    code, status, title = "response_not_bound", 502, "The partner's response is not bound to our request"


def content_digest(body: bytes) -> str:
    """RFC 9530 Content-Digest with sha-256."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def request_hash(signature_input: str, signature: str) -> str:
    """What a response carries to name the request it answers (hash of the request's signature)."""
    digest = hashlib.sha256(f"{signature_input}\n{signature}".encode()).digest()
    return "sha-256=:" + base64.b64encode(digest).decode() + ":"


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Verified:
    """What a good signature told us."""

    kid: str
    created: int
    nonce: str
    components: tuple[str, ...]
    request_hash: str


@dataclass(frozen=True)
class Signed:
    headers: dict[str, str]     # content-digest, signature-input, signature (to add to the message)
    request_hash: str           # what the answer to this message must carry


def _params(created: int, nonce: str, kid: str) -> str:
    return f';created={created};nonce="{nonce}";keyid="{kid}";alg="{ALG}";tag="{TAG}"'


def _base(components: tuple[str, ...], values: Mapping[str, str], params: str) -> tuple[bytes, str]:
    inner = "(" + " ".join(f'"{c}"' for c in components) + ")" + params
    lines = [f'"{c}": {values[c]}' for c in components]
    lines.append(f'"@signature-params": {inner}')
    return "\n".join(lines).encode(), inner


def _sign(key: Ed25519PrivateKey, kid: str, components: tuple[str, ...], values: Mapping[str, str],
          created: int | None) -> Signed:
    params = _params(created if created is not None else int(time.time()), new_nonce(), kid)
    base, inner = _base(components, values, params)
    sig_input = f"{LABEL}={inner}"
    signature = f"{LABEL}=:" + base64.b64encode(key.sign(base)).decode() + ":"
    return Signed({"signature-input": sig_input, "signature": signature}, request_hash(sig_input, signature))


def sign_request(key: Ed25519PrivateKey, kid: str, method: str, target_uri: str, headers: Mapping[str, str],
                 body: bytes, created: int | None = None) -> Signed:
    """Sign an outbound request. `headers` holds the x-interop-* (and idempotency-key) headers."""
    values = {k.lower(): v.strip() for k, v in headers.items()}
    values.update({"@method": method.upper(), "@target-uri": target_uri, "content-digest": content_digest(body)})
    components = REQUIRED_REQUEST + tuple(c for c in OPTIONAL_REQUEST if c in values)
    signed = _sign(key, kid, components, values, created)
    signed.headers["content-digest"] = values["content-digest"]
    return signed


def sign_response(key: Ed25519PrivateKey, kid: str, status: int, headers: Mapping[str, str], body: bytes) -> Signed:
    """Sign a response; `headers` must hold x-interop-sender, -message-id and -request-hash."""
    values = {k.lower(): v.strip() for k, v in headers.items()}
    values.update({"@status": str(status), "content-digest": content_digest(body)})
    signed = _sign(key, kid, RESPONSE_COMPONENTS, values, None)
    signed.headers["content-digest"] = values["content-digest"]
    return signed


def _parse(headers: Mapping[str, str]) -> tuple[tuple[str, ...], dict[str, str], str, bytes]:
    sig_input, signature = headers.get("signature-input"), headers.get("signature")
    if not sig_input or not signature:
        raise SignatureMissing("send Signature-Input and Signature (RFC 9421, label sig1)")
    m, s = _INPUT.match(sig_input.strip()), _SIGNATURE.match(signature.strip())
    if m is None or s is None:
        raise MalformedSignature("Signature-Input/Signature must follow the profile (label sig1)")
    components = tuple(c.strip('"') for c in m.group(1).split())
    params = {k: v.strip('"') for k, v in _PARAM.findall(m.group(2))}
    missing = [p for p in ("created", "nonce", "keyid", "alg") if p not in params]
    if missing:
        raise MalformedSignature(f"Signature-Input lacks {', '.join(missing)}")
    if params["alg"] != ALG or params.get("tag") != TAG:
        raise MalformedSignature(f'alg must be "{ALG}" and tag "{TAG}"')
    try:
        raw = base64.b64decode(s.group(1), validate=True)
    except ValueError as exc:
        raise MalformedSignature("the signature is not base64") from exc
    return components, params, m.group(0)[len(LABEL) + 1:], raw


def _check(components: tuple[str, ...], params: dict[str, str], inner: str, raw: bytes, values: Mapping[str, str],
           body: bytes, resolve_key: Callable[[str], Ed25519PublicKey | None], now: float, skew: int,
           sig_input: str, signature: str) -> Verified:
    digest_header = values.get("content-digest") or ""
    m = _DIGEST.search(digest_header)
    if m is None or "sha-256=:" + m.group(1) + ":" != content_digest(body):
        raise DigestMismatch("Content-Digest (sha-256) must be present and match the body")
    try:
        lines = [f'"{c}": {values[c]}' for c in components]
    except KeyError as exc:
        raise MalformedSignature(f"covered component {exc.args[0]} is not in the message") from exc
    base = "\n".join([*lines, f'"@signature-params": {inner}']).encode()
    key = resolve_key(params["keyid"])
    if key is None:
        raise UnknownKey(f"key id {params['keyid']!r} is not registered (or is revoked) for this sender")
    try:
        key.verify(raw, base)
    except InvalidSignature as exc:
        raise BadSignature("the Ed25519 signature does not match the signature base") from exc
    created = int(params["created"])
    if abs(now - created) > skew:
        raise StaleTimestamp(f"created={created} is {int(now - created)} s from our clock (limit {skew} s)")
    return Verified(params["keyid"], created, params["nonce"], components, request_hash(sig_input, signature))


def verify_request(method: str, target_uri: str, headers: Mapping[str, str], body: bytes,
                   resolve_key: Callable[[str], Ed25519PublicKey | None], now: float | None = None,
                   skew: int = 300) -> Verified:
    """Verify an inbound request against the profile; raises a SignatureRefused subclass."""
    components, params, inner, raw = _parse(headers)
    lacking = [c for c in REQUIRED_REQUEST if c not in components]
    lacking += [h for h in OPTIONAL_REQUEST if h in headers and h not in components]
    if lacking:
        raise MalformedSignature(f"the signature must cover {', '.join(lacking)}")
    values = {k.lower(): v.strip() for k, v in headers.items()}
    values.update({"@method": method.upper(), "@target-uri": target_uri})
    return _check(components, params, inner, raw, values, body, resolve_key, now or time.time(), skew,
                  headers["signature-input"].strip(), headers["signature"].strip())


def verify_response(status: int, headers: Mapping[str, str], body: bytes, expected_request_hash: str,
                    resolve_key: Callable[[str], Ed25519PublicKey | None], now: float | None = None,
                    skew: int = 300) -> Verified:
    """Verify a partner's response, and that it answers the request whose hash we expect."""
    components, params, inner, raw = _parse(headers)
    if tuple(components) != RESPONSE_COMPONENTS:
        raise MalformedSignature(f"a response signature covers exactly {', '.join(RESPONSE_COMPONENTS)}")
    values = {k.lower(): v.strip() for k, v in headers.items()}
    values["@status"] = str(status)
    verified = _check(components, params, inner, raw, values, body, resolve_key, now or time.time(), skew,
                      headers["signature-input"].strip(), headers["signature"].strip())
    if values.get(REQUEST_HASH) != expected_request_hash:
        raise ResponseNotBound("X-Interop-Request-Hash names another request")
    return verified
