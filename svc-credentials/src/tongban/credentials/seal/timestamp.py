"""Time-stamps on seal applications, shaped after RFC 3161 (and GB/T 20520, its Chinese profile).

A stamp carries the service's clock; a time-stamp token adds a statement by the platform's own
time-stamping authority (TSA) that the seal's signature existed at `genTime`. As RFC 3161 does
for a signature time-stamp (CAdES-T), the token's `messageImprint` is the digest of the seal
signature's bytes, so the token is bound to that one application. The TSTInfo fields keep their
RFC 3161 names (version, policy, messageImprint, serialNumber, genTime, accuracy, nonce, tsa) in
the compact signed form presentations and stamps use: `TBT1.<base64url JCS>.<base64url sig>`.
The TSA's key is an issuer key like the others (GET /keys), so anyone checks a token offline.
Not an ASN.1/DER TimeStampResp: no CMS, no external TSA.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from cryptography.hazmat.primitives import hashes
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.credentials.signing import algorithms, keystore
from tongban.credentials.signing import service as signing
from tongban.credentials.signing.token import CompactFormat, check_published
from tongban.shared import clock

TSA_ACTOR = "system:tsa"
# The platform's time-stamp policy (synthetic OID under the platform's arc, as TSTInfo.policy).
POLICY = "1.2.156.3005.2.99.1"


class TimestampError(ValueError):
    """The text is not a well-formed time-stamp token."""


FORMAT = CompactFormat("TBT1", {"version": int, "policy": str, "messageImprint": dict, "serialNumber": str,
                                "genTime": str, "tsa": str, "kid": str}, TimestampError)


def digest(hash_algorithm: str, data: bytes) -> str:
    if hash_algorithm == "SM3":
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize().hex()
    return hashlib.sha256(data).hexdigest()


async def issue(session: AsyncSession, seal_signature: bytes, hash_algorithm: str, tsa_code: str,
                tsa_name: str) -> tuple[str, dt.datetime]:
    """A time-stamp token over a seal signature, and its genTime."""
    key = await signing.platform_key(session, tsa_code, tsa_name, TSA_ACTOR)
    now = clock.now()
    info: dict[str, Any] = {
        "version": 1, "policy": POLICY,
        "messageImprint": {"hashAlgorithm": hash_algorithm, "hashedMessage": digest(hash_algorithm, seal_signature)},
        "serialNumber": secrets.token_hex(16), "genTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "accuracy": {"millis": 500}, "tsa": tsa_code, "kid": key.kid,
    }
    signature = keystore.current().sign(key.kid, key.algorithm, algorithms.canonical(info))
    return FORMAT.encode(info, signature), now


def check(token: str, stamp_signature: bytes, key_set: dict[str, Any]) -> tuple[dt.datetime | None, str]:
    """(genTime, reason) when the token is the TSA's, over this seal signature; (None, why not)
    otherwise. `key_set` is GET /keys (the TSA's key is published there)."""
    try:
        info, signed, signature = FORMAT.decode(token)
        imprint = info["messageImprint"]
        gen_time = dt.datetime.fromisoformat(info["genTime"].replace("Z", "+00:00"))
    except (TimestampError, KeyError, TypeError, ValueError) as exc:
        return None, f"not a time-stamp token: {exc}"
    if check_published(key_set, info, signed, signature, "tsa") is not None:
        return None, "the time-stamp is not signed by a published key of its authority"
    if imprint.get("hashAlgorithm") not in ("SM3", "SHA-256") or \
            imprint.get("hashedMessage") != digest(imprint["hashAlgorithm"], stamp_signature):
        return None, "the time-stamp is over another signature"
    return gen_time, "time-stamped by the platform's authority"
