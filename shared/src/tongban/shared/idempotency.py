"""`Idempotency-Key` for every create: the same key from the same caller gives the same answer.

The key row is inserted in the request's own transaction, so it commits with the record it
protects or not at all. A concurrent request with the same key blocks on the unique index
until the first commits, then replays its stored answer. Reusing a key for a different
request is refused (422), as the IETF Idempotency-Key draft says.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Executable, Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.shared.db import keep_update
from tongban.shared.errors import AppError

MAX_KEY_LENGTH = 200


class IdempotencyKeyReused(AppError):
    code, status, title = "idempotency_key_reused", 422, "Idempotency-Key already used for another request"


class BadIdempotencyKey(AppError):
    code, status, title = "bad_idempotency_key", 400, "Invalid Idempotency-Key header"


class Idempotency:
    """Per-request helper: `claim()` before the work, `remember()` the answer after it."""

    def __init__(self, request: Request, key: str | None, fingerprint: str) -> None:
        self.request = request
        self.key = key
        self.fingerprint = fingerprint
        self._owner: str | None = None

    async def claim(self, session: AsyncSession, owner: str) -> JSONResponse | None:
        """Returns the stored answer when this key was already used by `owner`, else claims it."""
        if self.key is None:
            return None
        self._owner = owner
        table = self.request.app.state.platform_tables.idempotency_key
        claim, stored = _claim_stmts(table)
        inserted = (await session.execute(
            claim, {"p_owner": owner, "p_key": self.key, "p_fingerprint": self.fingerprint})).first()
        if inserted is not None:
            return None
        row = (await session.execute(stored, {"p_owner": owner, "p_key": self.key})).one()
        if row.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key was sent before with a different request")
        return JSONResponse(row.response, status_code=row.status_code, headers={"Idempotent-Replayed": "true"})

    async def remember(self, session: AsyncSession, status_code: int, body: Any) -> JSONResponse:
        """Store the answer with the claimed key: an UPDATE kept with the transaction (db.keep_update),
        written with its kept rows (audit, outbox) before its next statement, or in its COMMIT's round
        trip: no round trip of its own. It commits with the work or not at all; an error in it fails
        the request."""
        data = _encoded(body)
        if self.key is not None:
            table = self.request.app.state.platform_tables.idempotency_key
            await keep_update(session, table, {"principal": self._owner, "key": self.key},
                              {"status_code": status_code, "response": data})
        return JSONResponse(data, status_code=status_code)


def _encoded(body: Any) -> Any:
    """What `jsonable_encoder(body)` gives, cheaper for a pydantic model (every create's answer):
    its own JSON-mode dump, by alias, as jsonable_encoder does it, without walking the result again."""
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json", by_alias=True)
    return jsonable_encoder(body)


_CLAIM: dict[Table, tuple[Executable, Executable]] = {}


def _claim_stmts(table: Table) -> tuple[Executable, Executable]:
    """The claim's INSERT and the stored answer's SELECT, built once per table (values bound apart)."""
    stmts = _CLAIM.get(table)
    if stmts is None:
        owner_key = (table.c.principal == bindparam("p_owner"), table.c.key == bindparam("p_key"))
        stmts = _CLAIM[table] = (
            insert(table).values(principal=bindparam("p_owner", type_=table.c.principal.type),
                                 key=bindparam("p_key", type_=table.c.key.type),
                                 fingerprint=bindparam("p_fingerprint", type_=table.c.fingerprint.type))
            .on_conflict_do_nothing().returning(table.c.key),
            select(table).where(*owner_key))
    return stmts


async def _idempotency(request: Request) -> Idempotency:
    key = request.headers.get("idempotency-key")
    if key is None:
        return Idempotency(request, None, "")  # no key: nothing to compare a retry with
    if not (0 < len(key) <= MAX_KEY_LENGTH and key.isprintable()):
        raise BadIdempotencyKey(f"the key must be 1-{MAX_KEY_LENGTH} printable characters")
    body = _without_boundary(request.headers.get("content-type", ""), await request.body())
    digest = hashlib.sha256(request.method.encode() + b" " + request.url.path.encode() + b"\n" + body).hexdigest()
    return Idempotency(request, key, digest)


def _without_boundary(content_type: str, body: bytes) -> bytes:
    """A multipart body with its boundary replaced by a fixed one: a client retrying an upload
    (wx.uploadFile) draws a new random boundary each time, and the retry is the same request."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return body
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and (boundary := value.strip().strip('"')):
            return body.replace(b"--" + boundary.encode("latin-1", "replace"), b"--tongban-boundary")
    return body


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency)]
