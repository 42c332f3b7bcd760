"""Signature algorithms over canonical JSON (RFC 8785): Ed25519 (default) and SM2 with SM3 (国密).

SM2 signatures follow GB/T 32918 with the default user id 1234567812345678 (the SM3 digest of
the user's entity info and the message, as gmalglib computes it). Public keys are published
raw: 32 bytes for Ed25519, the 65-byte uncompressed point for SM2.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Literal

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from gmalglib import core as gm

Algorithm = Literal["Ed25519", "SM2"]
ALGORITHMS: tuple[str, ...] = ("Ed25519", "SM2")


def canonical(document: Any) -> bytes:
    """The RFC 8785 (JCS) form of a JSON document: what gets signed."""
    return rfc8785.dumps(document)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    """Base58 (Bitcoin alphabet), as multibase `z` uses it for Data Integrity proofs."""
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        i = _B58.find(ch)
        if i < 0:
            raise ValueError("not base58")
        n = n * 58 + i
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def generate(algorithm: str) -> tuple[bytes, bytes]:
    """A new key pair as (private key bytes, public key bytes)."""
    if algorithm == "Ed25519":
        sk = Ed25519PrivateKey.generate()
        return (sk.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
                sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    if algorithm == "SM2":
        return gm.SM2(pc_mode=gm.SM2_PCMODE_RAW).generate_keypair()
    raise ValueError(f"unknown algorithm {algorithm}")


def signer(algorithm: str, private_key: bytes) -> Callable[[bytes], bytes]:
    """A loaded private key's `sign(message)`: load once, sign many times."""
    if algorithm == "Ed25519":
        return Ed25519PrivateKey.from_private_bytes(private_key).sign
    if algorithm == "SM2":
        return gm.SM2(sk=private_key).sign
    raise ValueError(f"unknown algorithm {algorithm}")


def sign(algorithm: str, private_key: bytes, message: bytes) -> bytes:
    return signer(algorithm, private_key)(message)


def verify(algorithm: str, public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True only for a good signature; any malformed key or signature is simply not valid."""
    if algorithm == "Ed25519":
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True
    if algorithm == "SM2":
        if len(signature) != gm.SM2_SIGNATURE_LENGTH:
            return False
        try:
            return bool(gm.SM2(pk=public_key).verify(message, signature))
        except ValueError:
            return False
    return False


def valid_public_key(algorithm: str, public_key: bytes) -> bool:
    """Is this a usable raw public key of the algorithm (an SM2 point must lie on the curve)?"""
    if algorithm == "Ed25519":
        return len(public_key) == 32
    if algorithm == "SM2":
        try:
            gm.SM2(pk=public_key)
        except ValueError:
            return False
        return len(public_key) == 65
    return False


def jwk(kid: str, algorithm: str, public_key: bytes, issuer: str, status: str) -> dict[str, str]:
    """A JWK-shaped public key: OKP/Ed25519 per RFC 8037; SM2 as EC on the SM2 curve. `public_key`
    (base64url of the raw key: 32 bytes, or the 65-byte 0x04‖x‖y point) is what a partner city's
    trust list takes (PUT /trusted-issuers/{region})."""
    if algorithm == "Ed25519":
        key = {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": b64u(public_key)}
    else:
        key = {"kty": "EC", "crv": "SM2", "alg": "SM2-SM3", "x": b64u(public_key[1:33]), "y": b64u(public_key[33:65])}
    return {**key, "kid": kid, "use": "sig", "issuer": issuer, "status": status, "public_key": b64u(public_key)}


def public_key_from_jwk(key: dict[str, str]) -> tuple[str, bytes]:
    """(algorithm, raw public key) from a JWK published by `jwk`."""
    if key.get("crv") == "Ed25519":
        return "Ed25519", unb64u(key["x"])
    if key.get("crv") == "SM2":
        return "SM2", b"\x04" + unb64u(key["x"]) + unb64u(key["y"])
    raise ValueError("unsupported key type")
