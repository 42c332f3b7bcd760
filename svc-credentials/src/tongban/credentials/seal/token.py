"""The stamp a sealed document carries: `TBS1.<base64url(RFC 8785 JSON)>.<base64url(signature)>`.

The JSON names the seal, its key, the company, the document digest and when it was sealed; the
seal's own key signs it, so anyone with the published seal keys (GET /seal-keys) can check it.
The compact form is the presentations' one (`signing/token.py`).
"""

from __future__ import annotations

from typing import Any

from tongban.credentials.signing.token import CompactFormat, check_published


class StampError(ValueError):
    """The text is not a well-formed stamp."""


def _use_in_range(document: dict[str, Any]) -> str | None:
    return None if 0 < document["use"] < 2 ** 63 else "the use number is out of range"


FORMAT = CompactFormat("TBS1", {"v": int, "seal": str, "kid": str, "company": str, "kind": str, "name": str,
                                "alg": str, "hash": str, "use": int, "at": str}, StampError, _use_in_range)
PREFIX = FORMAT.prefix
encode = FORMAT.encode
decode = FORMAT.decode


def verify_offline(stamp: str, document_hash: str, hash_algorithm: str,
                   seal_keys: dict[str, Any]) -> tuple[str, str]:
    """Check a sealed document without the service: the stamp's signature against the published
    seal keys (GET /seal-keys) and the document's digest. Returns (result, reason); whether the
    application was recorded needs the online check."""
    try:
        document, signed, signature = decode(stamp)
    except StampError as exc:
        return "invalid", str(exc)
    fault = check_published(seal_keys, document, signed, signature, "company", seal=document["seal"])
    if fault == "unknown key":
        return "forged", "signed by a key no published seal has"
    if fault is not None:
        return "forged", "the seal's signature does not match the stamp"
    if document["alg"] != hash_algorithm or document["hash"] != document_hash.lower():
        return "invalid", "the document's digest is not the one sealed"
    return "valid", "the seal's signature over this document's digest checks out"
