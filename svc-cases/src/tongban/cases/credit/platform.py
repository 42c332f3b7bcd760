"""The city's public credit platform (公共信用信息平台), behind one interface.

`LocalCreditPlatform` is the source for `make run` and the tests: the platform's answers for a
few demo subjects from a packaged file, and for anyone else what the platform says of a subject
it holds nothing against — level B, no list entries. A deployment swaps in a client of the real
platform with the same `fetch`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

LEVELS = ("A", "B", "C", "D")
DEFAULT_LEVEL = "B"
DATA = Path(__file__).with_name("local_platform.json")


@dataclass(frozen=True)
class PlatformEntry:
    list: str            # red | black
    source: str          # the authority that listed the subject
    reason: str
    listed_on: dt.date
    until: dt.date | None = None


@dataclass(frozen=True)
class PlatformRecord:
    level: str
    entries: list[PlatformEntry] = field(default_factory=list)


class CreditPlatform(Protocol):
    name: str

    async def fetch(self, subject_id: str) -> PlatformRecord: ...


class LocalCreditPlatform:
    """The platform as a local file (see the module's docstring)."""

    name = "local"

    def __init__(self, records: dict[str, Any] | None = None) -> None:
        raw = records if records is not None else json.loads(DATA.read_text(encoding="utf-8"))
        self._records = {k.upper(): self._parse(v) for k, v in raw.items()}

    @staticmethod
    def _parse(v: dict[str, Any]) -> PlatformRecord:
        entries = [PlatformEntry(e["list"], e["source"], e["reason"], dt.date.fromisoformat(e["listed_on"]),
                                 dt.date.fromisoformat(e["until"]) if e.get("until") else None)
                   for e in v.get("entries", [])]
        return PlatformRecord(v["level"], entries)

    async def fetch(self, subject_id: str) -> PlatformRecord:
        return self._records.get(subject_id.upper(), PlatformRecord(DEFAULT_LEVEL))
