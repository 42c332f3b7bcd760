"""A partner city's published status lists (深中互认): fetched, checked, cached.

A partner's presentation names a position in one of its status lists; the list lives at the URL
its trust-list entry gives (`status_list_url`, `{list}` filled in, `?purpose=`). A fetched list
counts only if its Data Integrity proof checks out with a key of *that* region on our trust list,
it is the list and purpose asked for, and it is not past its `validUntil`. A good copy is kept
`ttl` seconds, and while the partner cannot be reached it is used until its `validUntil` (what
the W3C model allows a relaying verifier); with no good copy the answer is "unknown", never an
error. Failed fetches are not retried for `retry_after` seconds, so an outage does not make
every verification wait on the partner's timeout.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.signing import proof
from tongban.credentials.trust import repository

log = logging.getLogger("tongban.credentials.partner_status")
MAX_LIST_BYTES = 1 << 20           # a 131,072-bit list is 16 KiB; a partner's may be larger, not unbounded
MAX_RESPONSE_BYTES = 4 << 20


class StatusUnknown(Exception):
    """The partner's list could not be had (or trusted): the licence's status is unknown."""


@dataclass
class _Copy:
    fresh_until: float      # monotonic: refetch after this
    valid_until: float      # epoch seconds: the proof's promise ends here
    bits: bytes


class PartnerStatusLists:
    def __init__(self, http: httpx.AsyncClient, ttl: float = 60.0, retry_after: float = 10.0) -> None:
        self.http = http
        self.ttl = ttl
        self.retry_after = retry_after
        self._copies: dict[str, _Copy] = {}
        self._failed: dict[str, float] = {}

    async def is_set(self, session: AsyncSession, region_code: str, url_template: str | None, list_id: Any,
                     index: Any, purpose: str) -> bool:
        """Is the licence's bit set in the partner's list of this purpose? StatusUnknown if we cannot tell."""
        if not url_template:
            raise StatusUnknown("the partner's trust-list entry names no status list")
        if not isinstance(list_id, (int, str)) or isinstance(list_id, bool) or not str(list_id).isalnum() \
                or not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise StatusUnknown("the presentation names no usable status-list position")
        url = url_template.replace("{list}", str(list_id))
        bits = await self._bits(session, region_code, url, str(list_id), purpose)
        if index // 8 >= len(bits):
            raise StatusUnknown("the position lies outside the partner's list")
        return bool(bits[index // 8] & (0x80 >> (index % 8)))

    async def _bits(self, session: AsyncSession, region_code: str, url: str, list_id: str, purpose: str) -> bytes:
        key = f"{url}|{purpose}"
        now, mono = time.time(), time.monotonic()
        copy = self._copies.get(key)
        if copy is not None and copy.fresh_until > mono and copy.valid_until > now:
            return copy.bits
        if self._failed.get(key, 0.0) <= mono:
            try:
                fetched = await self._fetch(session, region_code, url, list_id, purpose)
            except StatusUnknown as exc:
                log.warning("partner status list %s (%s): %s", url, purpose, exc)
                self._failed[key] = mono + self.retry_after
            else:
                self._copies[key] = fetched
                self._failed.pop(key, None)
                return fetched.bits
        if copy is not None and copy.valid_until > now:
            return copy.bits     # the partner is out of reach; its signed copy still holds
        raise StatusUnknown("the partner's status list could not be fetched or trusted")

    async def _fetch(self, session: AsyncSession, region_code: str, url: str, list_id: str, purpose: str) -> _Copy:
        try:
            resp = await self.http.get(url, params={"purpose": purpose})
        except httpx.HTTPError as exc:
            raise StatusUnknown(f"unreachable: {type(exc).__name__}") from exc
        if resp.status_code != 200 or len(resp.content) > MAX_RESPONSE_BYTES:
            raise StatusUnknown(f"answered {resp.status_code}")
        try:
            credential = resp.json()
        except ValueError as exc:
            raise StatusUnknown("not JSON") from exc
        if not isinstance(credential, dict):
            raise StatusUnknown("not a status list credential")
        if not await self._proof_ok(session, region_code, credential):
            raise StatusUnknown("its proof does not check out with the region's trusted keys")
        try:
            subject = credential["credentialSubject"]
            listed = str(credential["id"]).split("/status-lists/")[1].split("?")[0]
            valid_until = dt.datetime.fromisoformat(str(credential["validUntil"]).replace("Z", "+00:00")).timestamp()
            encoded = str(subject["encodedList"])
            stated_purpose = subject["statusPurpose"]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise StatusUnknown("not a BitstringStatusListCredential") from exc
        # A signed list of another id or purpose must not stand in for the one asked for.
        if listed != list_id or stated_purpose != purpose:
            raise StatusUnknown("the signed list is not the one asked for")
        if valid_until <= time.time():
            raise StatusUnknown("the signed list is past its validUntil")
        return _Copy(time.monotonic() + self.ttl, valid_until, _bitstring(encoded))

    @staticmethod
    async def _proof_ok(session: AsyncSession, region_code: str, credential: dict[str, Any]) -> bool:
        method = str((credential.get("proof") or {}).get("verificationMethod", "")) \
            if isinstance(credential.get("proof"), dict) else ""
        kid = method.rpartition("#")[2]
        key = await repository.get_key(session, kid) if kid else None
        if key is None or key.region_code != region_code:
            return False
        return proof.check_proof(credential, lambda k: (key.algorithm, key.public_key) if k == kid else None)


def _bitstring(encoded: str) -> bytes:
    """The raw bits of a multibase base64url, GZIP'd `encodedList`, refusing a decompression bomb."""
    if not encoded.startswith("u"):
        raise StatusUnknown("encodedList is not multibase base64url")
    try:
        raw = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
        inflater = zlib.decompressobj(wbits=31)
        bits = inflater.decompress(raw, MAX_LIST_BYTES)
    except (ValueError, zlib.error) as exc:
        raise StatusUnknown("encodedList does not decode") from exc
    if inflater.unconsumed_tail:
        raise StatusUnknown("the list is larger than we accept")
    return bits
