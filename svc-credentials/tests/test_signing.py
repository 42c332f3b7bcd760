"""Canonical JSON, both signature algorithms, and the file key store."""

import stat

PASS = b"test-passphrase"

import pytest

from tongban.credentials.signing import algorithms, keystore
from tongban.credentials.signing.keystore import FileKeyStore, KeyMissing


def test_canonical_form_follows_rfc_8785() -> None:
    # RFC 8785 section 3.2.2's number example and key ordering by UTF-16 code units.
    doc = {"numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
           "b": "é", "a": {"z": None, "y": True}}
    assert algorithms.canonical(doc) == (
        '{"a":{"y":true,"z":null},"b":"é","numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}').encode()


@pytest.mark.parametrize("algorithm", ["Ed25519", "SM2"])
def test_sign_verify_and_tamper(tmp_path, algorithm: str) -> None:
    store = FileKeyStore(tmp_path / "keys", PASS)
    public = store.generate("issuer-1", algorithm)
    message = algorithms.canonical({"identifier": "x", "data": {"name": "张三"}})
    signature = store.sign("issuer-1", algorithm, message)
    assert algorithms.verify(algorithm, public, message, signature)
    assert not algorithms.verify(algorithm, public, message.replace(b"x", b"y"), signature)
    assert not algorithms.verify(algorithm, public, message, bytes([signature[0] ^ 1]) + signature[1:])
    assert not algorithms.verify(algorithm, public, message, signature[:-1])
    alg, raw = algorithms.public_key_from_jwk(algorithms.jwk("issuer-1", algorithm, public, "DEPT", "active"))
    assert (alg, raw) == (algorithm, public)
    path = tmp_path / "keys" / "issuer-1.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    # A fresh store (a restart) reads the key from its file.
    assert algorithms.verify(algorithm, public, message, FileKeyStore(tmp_path / "keys", PASS).sign("issuer-1", algorithm,
                                                                                              message))


def test_private_keys_are_encrypted_at_rest(tmp_path) -> None:
    store = FileKeyStore(tmp_path / "keys", PASS)
    store.generate("issuer-1", "Ed25519")
    private = store._private("issuer-1")
    blob = (tmp_path / "keys" / "issuer-1.key").read_bytes()
    assert blob.startswith(keystore.MAGIC) and private not in blob and private.hex().encode() not in blob
    with pytest.raises(KeyMissing):  # another passphrase does not open it
        FileKeyStore(tmp_path / "keys", b"another").sign("issuer-1", "Ed25519", b"m")
    with pytest.raises(ValueError):  # no store without encryption
        FileKeyStore(tmp_path / "other")


def test_a_key_written_before_encryption_is_encrypted_when_read(tmp_path) -> None:
    private, public = algorithms.generate("Ed25519")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "old-1.key").write_text(private.hex())
    signature = FileKeyStore(tmp_path / "keys", PASS).sign("old-1", "Ed25519", b"m")
    assert algorithms.verify("Ed25519", public, b"m", signature)
    blob = (tmp_path / "keys" / "old-1.key").read_bytes()
    assert blob.startswith(keystore.MAGIC) and private.hex().encode() not in blob


def test_key_folder_defaults_under_the_data_folder_and_needs_a_passphrase(monkeypatch) -> None:
    from tongban.credentials.config import KeyStoreSettings

    monkeypatch.delenv("CREDENTIALS_KEY_DIR", raising=False)
    monkeypatch.setenv("CREDENTIALS_DATA_DIR", "/srv/tongban/credentials")
    monkeypatch.setenv("TONGBAN_ENV", "development")
    assert str(KeyStoreSettings().key_dir) == "/srv/tongban/credentials/keys"
    monkeypatch.delenv("TONGBAN_ENV")
    with pytest.raises(ValueError, match="CREDENTIALS_KEY_PASSPHRASE"):
        KeyStoreSettings()
    monkeypatch.setenv("CREDENTIALS_KEY_PASSPHRASE", "from-a-secret")
    assert KeyStoreSettings().key_passphrase.get_secret_value() == "from-a-secret"


def test_store_refuses_unknown_and_path_like_kids(tmp_path) -> None:
    store = FileKeyStore(tmp_path, PASS)
    with pytest.raises(KeyMissing):
        store.sign("nope", "Ed25519", b"m")
    with pytest.raises(KeyMissing):
        store.sign("../etc/passwd", "Ed25519", b"m")


def test_base58_round_trip() -> None:
    for raw in (b"", b"\0\0abc", bytes(range(64)), b"\xff" * 64):
        assert algorithms.b58decode(algorithms.b58encode(raw)) == raw
    assert algorithms.b58encode(b"Hello World!") == "2NEpo7TZRRrLZSi2U"


async def test_a_lost_private_key_is_a_503_not_a_500(svc, tokens, k) -> None:  # noqa: ANN001
    await k.setup_type(svc, tokens)
    lic = await k.issue(svc, tokens)
    # The key folder is not the one the key was made in (a misconfigured CREDENTIALS_KEY_DIR).
    keystore.install(FileKeyStore(svc.app.state.settings.key_dir.parent / "elsewhere", PASS))
    r = await svc.post(f"/api/v1/credentials/licences/{lic['id']}/presentations", json={}, headers=tokens.citizen)
    assert r.status_code == 503 and r.json()["code"] == "signing_key_unavailable"
