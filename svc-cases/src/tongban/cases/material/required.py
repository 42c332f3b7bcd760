"""Which of an item's required materials a submission lacks (pure: no I/O).

The catalogue lists an item's (or a city implementation's, or a bundle's deduplicated) materials
as `{"name", "required", "licence_type_code", "accept_with_gaps", ...}`. A material given with the
submission satisfies a listed one when it is a licence of the listed type (免证办) or carries the
listed name (an uploaded scan of the paper, say); names compare without spaces and case.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Given = tuple[str, str | None]       # (material name, licence type code or None)


@dataclass(frozen=True)
class Shortfall:
    missing: list[str]    # required and not 容缺: the submission is refused
    gaps: list[str]       # required but may be missing (容缺): the case can only be accepted with gaps


def _key(name: str) -> str:
    return "".join(name.split()).casefold()


def satisfied(listed: dict[str, Any], given: Iterable[Given]) -> bool:
    code, name = listed.get("licence_type_code"), _key(str(listed.get("name", "")))
    return any((code is not None and code == g_code) or _key(g_name) == name for g_name, g_code in given)


def shortfall(listed: Sequence[dict[str, Any]] | None, given: Iterable[Given]) -> Shortfall:
    """The required materials of `listed` that `given` does not satisfy, split by 容缺."""
    given = list(given)
    missing: list[str] = []
    gaps: list[str] = []
    for m in listed or ():
        if not isinstance(m, dict) or not m.get("name") or not m.get("required", True) or satisfied(m, given):
            continue
        (gaps if m.get("accept_with_gaps") else missing).append(str(m["name"]))
    return Shortfall(missing, gaps)


def for_item(listed: Sequence[dict[str, Any]] | None, basic_code: str) -> list[dict[str, Any]]:
    """A bundle's deduplicated list narrowed to what one of its items asks for (`for_items`)."""
    return [m for m in listed or () if isinstance(m, dict) and basic_code in (m.get("for_items") or [basic_code])]
