"""The signature profile on its own (no service): what both directions rely on."""

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tongban.interop import signing

URL = "https://zs.example/api/v1/interop/exchange/cases"


def sign(key, body=b'{"a":1}', **headers):
    hdrs = {signing.SENDER: "440300", signing.MESSAGE_ID: "6f1c6c1e-0f0b-4e58-9a3c-2f6a0c6f0a11", **headers}
    signed = signing.sign_request(key, "k1", "POST", URL, hdrs, body)
    return {**hdrs, **signed.headers}, signed


def test_request_round_trip_and_every_covered_part_matters():
    key = Ed25519PrivateKey.generate()
    headers, signed = sign(key, **{signing.ON_BEHALF_OF: "440300********1234"})
    keys = {"k1": key.public_key()}.get
    v = signing.verify_request("POST", URL, headers, b'{"a":1}', keys)
    assert v.kid == "k1" and signing.ON_BEHALF_OF in v.components and v.request_hash == signed.request_hash

    with pytest.raises(signing.DigestMismatch):
        signing.verify_request("POST", URL, headers, b'{"a":2}', keys)
    with pytest.raises(signing.BadSignature):
        signing.verify_request("PUT", URL, headers, b'{"a":1}', keys)
    with pytest.raises(signing.BadSignature):
        signing.verify_request("POST", URL + "?x=1", headers, b'{"a":1}', keys)
    with pytest.raises(signing.BadSignature):
        signing.verify_request("POST", URL, {**headers, signing.ON_BEHALF_OF: "440300********9999"}, b'{"a":1}', keys)
    with pytest.raises(signing.UnknownKey):
        signing.verify_request("POST", URL, headers, b'{"a":1}', {}.get)
    with pytest.raises(signing.StaleTimestamp):
        signing.verify_request("POST", URL, headers, b'{"a":1}', keys, now=time.time() + 301)
    with pytest.raises(signing.SignatureMissing):
        signing.verify_request("POST", URL, {k: v for k, v in headers.items() if k != "signature"}, b"", keys)


def test_an_uncovered_interop_header_is_refused():
    key = Ed25519PrivateKey.generate()
    headers, _ = sign(key)
    headers[signing.CASE] = "added-after-signing"
    with pytest.raises(signing.MalformedSignature):
        signing.verify_request("POST", URL, headers, b'{"a":1}', {"k1": key.public_key()}.get)


def test_response_is_bound_to_its_request():
    key = Ed25519PrivateKey.generate()
    _, signed = sign(key)
    _, other = sign(key)
    interop = {signing.SENDER: "442000", signing.MESSAGE_ID: "m", signing.REQUEST_HASH: signed.request_hash}
    answer = signing.sign_response(key, "k1", 202, interop, b"{}")
    headers = {**interop, **answer.headers}
    keys = {"k1": key.public_key()}.get
    signing.verify_response(202, headers, b"{}", signed.request_hash, keys)
    with pytest.raises(signing.ResponseNotBound):
        signing.verify_response(202, headers, b"{}", other.request_hash, keys)
    with pytest.raises(signing.BadSignature):
        signing.verify_response(200, headers, b"{}", signed.request_hash, keys)
