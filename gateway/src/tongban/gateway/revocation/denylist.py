"""The deny list every gateway process keeps in memory: what was revoked among tokens that
have not yet expired, asked on every proxied request (a few set lookups, nothing when empty).

Three kinds of entry, each kept until every token it can refuse has expired:
- `sid`: a login (refresh-token family) ended: logout, RFC 7009 revocation, a reused refresh
  token, an account switched off. Its access tokens carry it as `sid`.
- `delegation`: a delegation revoked. An agent's tokens list theirs in `agent_for.delegations`.
- `subject`: every token of a subject issued before a cutoff (`iat` < cutoff): an account or a
  machine client switched off. The cutoff is the whole second after the revocation
  time (`iat` has whole seconds), so a token issued in the same second is refused too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tongban.gateway.proxy.callers import Caller

KINDS = ("sid", "delegation", "subject")


@dataclass(frozen=True, slots=True)
class Revoked:
    kind: str            # one of KINDS
    value: str           # the family id, delegation id or token subject
    expires_at: float    # epoch seconds: after it no token it refuses is still valid
    cutoff: float = 0.0  # subjects: tokens with iat below it are refused

    @classmethod
    def subject(cls, sub: str, at: float, expires_at: float) -> "Revoked":
        return cls("subject", sub, expires_at, float(math.floor(at) + 1))


class DenyList:
    def __init__(self) -> None:
        self.sids: dict[str, float] = {}
        self.delegations: dict[str, float] = {}
        self.subjects: dict[str, tuple[float, float]] = {}
        self.empty = True

    def __len__(self) -> int:
        return len(self.sids) + len(self.delegations) + len(self.subjects)

    def refuses(self, caller: Caller) -> bool:
        """True when the token was revoked (its login, a delegation it rests on, or its subject)."""
        if self.empty:
            return False
        if caller.sid is not None and caller.sid in self.sids:
            return True
        for delegation in caller.delegations:
            if delegation in self.delegations:
                return True
        cut = self.subjects.get(caller.sub)
        return cut is not None and caller.iat < cut[0]

    def add(self, entry: Revoked) -> None:
        if entry.kind == "sid":
            self.sids[entry.value] = max(entry.expires_at, self.sids.get(entry.value, 0.0))
        elif entry.kind == "delegation":
            self.delegations[entry.value] = max(entry.expires_at, self.delegations.get(entry.value, 0.0))
        elif entry.kind == "subject":
            cutoff, expires = self.subjects.get(entry.value, (0.0, 0.0))
            self.subjects[entry.value] = (max(cutoff, entry.cutoff), max(expires, entry.expires_at))
        else:
            return
        self.empty = False

    def prune(self, now: float) -> None:
        """Forget entries whose tokens have all expired (they can refuse nothing any more)."""
        self.sids = {k: v for k, v in self.sids.items() if v > now}
        self.delegations = {k: v for k, v in self.delegations.items() if v > now}
        self.subjects = {k: v for k, v in self.subjects.items() if v[1] > now}
        self.empty = not len(self)
