"""Private keys stay here: a small key-store interface and its file-backed implementation.

Callers ask the store to generate a key and to sign with it; no method hands a private key
out, so an HSM-backed store (PKCS#11) can replace `FileKeyStore` without touching callers.

At rest every private key is encrypted (`KeyWrap`): by default AES-256-GCM under a key derived
with scrypt from CREDENTIALS_KEY_PASSPHRASE and a random salt kept beside the keys, the kid as
associated data (a file renamed to another kid does not decrypt). One envelope for Ed25519 and
SM2 alike: `cryptography` has no SM2, so PKCS#8 cannot hold those keys. A KMS can stand in for
the passphrase by implementing `KeyWrap`. Files written before encryption (hex) are encrypted
the first time they are read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tongban.credentials.signing import algorithms
from tongban.shared.errors import AppError

MAGIC = b"TBK1"
SALT_FILE = ".salt"


class KeyStore(Protocol):
    def generate(self, kid: str, algorithm: str) -> bytes:
        """Create a private key under `kid`; return its public key."""

    def sign(self, kid: str, algorithm: str, message: bytes) -> bytes:
        """Sign `message` with the private key `kid`."""


class KeyMissing(AppError, LookupError):
    """The store has no private key under this kid: the key folder is not the one the keys were
    made in (CREDENTIALS_KEY_DIR), or it was lost. A 503 for the caller, never a 500."""

    code, status, title = "signing_key_unavailable", 503, "The signing key is not available"


class KeyWrap(Protocol):
    def wrap(self, kid: str, private: bytes) -> bytes:
        """Encrypt a private key for storage."""

    def unwrap(self, kid: str, blob: bytes) -> bytes:
        """Decrypt a stored private key (KeyMissing if it cannot be)."""


class PassphraseWrap:
    """AES-256-GCM under scrypt(passphrase, the store's salt); derived once per store."""

    def __init__(self, passphrase: bytes, salt: bytes) -> None:
        if not passphrase:
            raise ValueError("the key store needs a passphrase (CREDENTIALS_KEY_PASSPHRASE)")
        self._aead = AESGCM(Scrypt(salt=salt, length=32, n=2 ** 15, r=8, p=1).derive(passphrase))

    def wrap(self, kid: str, private: bytes) -> bytes:
        nonce = os.urandom(12)
        return MAGIC + nonce + self._aead.encrypt(nonce, private, kid.encode())

    def unwrap(self, kid: str, blob: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[len(MAGIC):len(MAGIC) + 12], blob[len(MAGIC) + 12:], kid.encode())
        except InvalidTag:
            raise KeyMissing(f"the private key {kid} does not decrypt with this passphrase") from None


class FileKeyStore:
    """One file per key (`<kid>.key`, mode 0600, encrypted) in a directory of mode 0700.

    Keys are read and loaded once and kept in memory: signing is on the hot path of issuing and
    presenting.
    """

    def __init__(self, directory: Path, passphrase: bytes | None = None, wrap: KeyWrap | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        if wrap is None:
            if passphrase is None:
                raise ValueError("FileKeyStore needs a passphrase or a KeyWrap: private keys are encrypted at rest")
            wrap = PassphraseWrap(passphrase, self._salt())
        self.wrap = wrap
        self._cache: dict[str, bytes] = {}
        self._signers: dict[tuple[str, str], Callable[[bytes], bytes]] = {}
        self._lock = threading.Lock()

    def _path(self, kid: str) -> Path:
        if not kid.replace("-", "").replace("_", "").isalnum():
            raise KeyMissing(f"no private key {kid} in the key store")
        return self.directory / f"{kid}.key"

    def _salt(self) -> bytes:
        path = self.directory / SALT_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as fh:
            salt = os.urandom(16)
            fh.write(salt)
        return salt

    def generate(self, kid: str, algorithm: str) -> bytes:
        private, public = algorithms.generate(algorithm)
        path = self._path(kid)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.wrap.wrap(kid, private))
        with self._lock:
            self._cache[kid] = private
        return public

    def _private(self, kid: str) -> bytes:
        with self._lock:
            if kid in self._cache:
                return self._cache[kid]
        path = self._path(kid)
        if not path.exists():
            raise KeyMissing(f"no private key {kid} in the key store")
        blob = path.read_bytes()
        if blob.startswith(MAGIC):
            private = self.wrap.unwrap(kid, blob)
        else:  # written before keys were encrypted (hex): encrypt it now
            private = bytes.fromhex(blob.decode().strip())
            self._rewrite(path, kid, private)
        with self._lock:
            self._cache[kid] = private
        return private

    def _rewrite(self, path: Path, kid: str, private: bytes) -> None:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.wrap.wrap(kid, private))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def sign(self, kid: str, algorithm: str, message: bytes) -> bytes:
        sign = self._signers.get((kid, algorithm))
        if sign is None:
            sign = self._signers.setdefault((kid, algorithm), algorithms.signer(algorithm, self._private(kid)))
        return sign(message)


def open_store(settings: Any) -> FileKeyStore:
    """The file key store the settings name (CREDENTIALS_KEY_DIR, CREDENTIALS_KEY_PASSPHRASE)."""
    return FileKeyStore(settings.key_dir, settings.key_passphrase.get_secret_value().encode())


_current: KeyStore | None = None


def install(store: KeyStore) -> None:
    """Make `store` the one the service signs with (set at startup, by the app or the worker)."""
    global _current
    _current = store


def current() -> KeyStore:
    if _current is None:
        raise RuntimeError("no key store installed: the service's startup installs one")
    return _current
