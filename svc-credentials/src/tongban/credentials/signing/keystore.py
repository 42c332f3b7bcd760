"""Private keys stay here: a small key-store interface and its file-backed implementation.

Callers ask the store to generate a key and to sign with it; no method hands a private key
out, so an HSM-backed store (PKCS#11) can replace `FileKeyStore` without touching callers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tongban.credentials.signing import algorithms
from tongban.shared.errors import AppError


class KeyStore(Protocol):
    def generate(self, kid: str, algorithm: str) -> bytes:
        """Create a private key under `kid`; return its public key."""

    def sign(self, kid: str, algorithm: str, message: bytes) -> bytes:
        """Sign `message` with the private key `kid`."""


class KeyMissing(AppError, LookupError):
    """The store has no private key under this kid: the key folder is not the one the keys were
    made in (CREDENTIALS_KEY_DIR), or it was lost. A 503 for the caller, never a 500."""

    code, status, title = "signing_key_unavailable", 503, "The signing key is not available"


class FileKeyStore:
    """One file per key (`<kid>.key`, mode 0600) in a directory of mode 0700.

    Keys are read and loaded once and kept in memory: signing is on the hot path of issuing and
    presenting.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        self._cache: dict[str, bytes] = {}
        self._signers: dict[tuple[str, str], Callable[[bytes], bytes]] = {}
        self._lock = threading.Lock()

    def _path(self, kid: str) -> Path:
        if not kid.replace("-", "").replace("_", "").isalnum():
            raise KeyMissing(f"no private key {kid} in the key store")
        return self.directory / f"{kid}.key"

    def generate(self, kid: str, algorithm: str) -> bytes:
        private, public = algorithms.generate(algorithm)
        path = self._path(kid)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(private.hex().encode())
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
        private = bytes.fromhex(path.read_text().strip())
        with self._lock:
            self._cache[kid] = private
        return private

    def sign(self, kid: str, algorithm: str, message: bytes) -> bytes:
        sign = self._signers.get((kid, algorithm))
        if sign is None:
            sign = self._signers.setdefault((kid, algorithm), algorithms.signer(algorithm, self._private(kid)))
        return sign(message)


_current: KeyStore | None = None


def install(store: KeyStore) -> None:
    """Make `store` the one the service signs with (set at startup, by the app or the worker)."""
    global _current
    _current = store


def current() -> KeyStore:
    if _current is None:
        raise RuntimeError("no key store installed: the service's startup installs one")
    return _current
