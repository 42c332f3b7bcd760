"""Event payloads published by the gateway (subjects `gateway.*`). Version 1: only additive changes.

`gateway.token.revoked`: every gateway process and every service process keeps a deny list
of revoked access tokens from it (tongban.shared.revocation); services replay it from the
GATEWAY stream at start.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel

TOKEN_REVOKED = "gateway.token.revoked"


class RevokedEntryV1(BaseModel):
    """What access tokens stop working: `sid` (a login: tokens whose `sid` claim is `value`),
    `delegation` (tokens whose `agent_for.delegations` lists `value`) or `subject` (tokens of
    subject `value` issued before `cutoff`). After `expires_at` no such token is valid anyway."""

    kind: Literal["sid", "delegation", "subject"]
    value: str
    expires_at: dt.datetime
    cutoff: dt.datetime | None = None


class TokenRevokedV1(BaseModel):
    entries: list[RevokedEntryV1]
    reason: str
