"""Benchmark comparison (对标) of two implementations of one item on the ten elements.

Each element has a direction (fewer visits is better, a higher online depth is better, ...).
A missing limit counts as worse than any stated one: a citizen cannot plan on it.
"""

from decimal import Decimal
from typing import Any

from tongban.catalog.elements import natural_days
from tongban.catalog.implementation.models import Implementation

# element → (how to read it, "lower" or "higher" is better, the rule in words)
ELEMENTS: dict[str, tuple[Any, str, str]] = {
    "handling_form": (lambda i: len(i.handling_forms), "higher", "more ways to apply"),
    "visits": (lambda i: i.visits, "lower", "fewer visits"),
    "promised_limit": (lambda i: natural_days(i.promised_limit, i.promised_limit_unit), "lower",
                       "shorter promised limit (natural days; 5 working days = 7)"),
    "statutory_limit": (lambda i: natural_days(i.statutory_limit, i.statutory_limit_unit), "lower",
                        "shorter statutory limit (natural days)"),
    "materials_count": (lambda i: sum(1 for m in i.materials if m.get("required", True)), "lower",
                        "fewer required materials"),
    "fees": (lambda i: float(sum((Decimal(str(f["amount"])) for f in i.fees), Decimal(0))), "lower",
             "lower total fee (yuan)"),
    "online_depth": (lambda i: i.online_depth, "higher", "deeper online handling"),
    "instant_approval": (lambda i: bool(i.flags.get("instant_approval")), "higher", "instant approval"),
    "no_certificate": (lambda i: bool(i.flags.get("no_certificate")), "higher", "no certificate needed"),
    "cross_city": (lambda i: bool(i.flags.get("cross_city")), "higher", "handled across cities"),
}


def _better(a: Any, b: Any, direction: str) -> str:
    if a == b:
        return "equal"
    if a is None:
        return "b"
    if b is None:
        return "a"
    return ("a" if a < b else "b") if direction == "lower" else ("a" if a > b else "b")


def compare(a: Implementation, b: Implementation) -> list[dict[str, Any]]:
    """Per element: both values and which implementation is better, or equal."""
    out = []
    for element, (read, direction, rule) in ELEMENTS.items():
        va, vb = read(a), read(b)
        out.append({"element": element, "a": va, "b": vb, "better": _better(va, vb, direction), "rule": rule})
    return out
