""""What do I qualify for", answered from the published policies compiled together.

Hundreds of policies ask the same few facts, often with the same condition (`credit.level in
[A, B]`, a licence held): the policies of one generation are compiled into one table of distinct
conditions (a named definition counts as one condition: its whole structure is the key), each
policy a bit mask over that table. A subject's facts are asked each distinct condition once; a
policy's failures are then its mask AND the failed bits, so 500 policies cost 500 integer ANDs.
What a match says (the conditions in words, the answer item as JSON, by PolicyMatch's own
serialiser) is prepared at compile time; a request splices the items of the policies it
qualifies for and writes only the near ones (missing up to `near` conditions), at most `shown`.

The answer is the same as asking `rules.evaluate` of every open policy in turn (a test compares).
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import uuid
from dataclasses import dataclass, replace
from typing import Any

from pydantic_core import to_json

from tongban.cases.benefit import rules
from tongban.cases.benefit.schemas import PolicyMatch


@dataclass(frozen=True)
class Source:
    """What matching needs of one published policy, parsed."""

    id: uuid.UUID
    name: str
    mode: str
    subject_type: str
    starts_on: dt.date
    ends_on: dt.date
    eligibility: list[rules.Condition]
    definitions: dict[str, rules.Definition]
    amount: rules.AmountRule


@dataclass(frozen=True)
class _Compiled:
    source: Source
    mask: int                                   # the distinct conditions it asks
    conditions: tuple[tuple[int, bytes, bytes, str | None], ...]  # (bit, words as JSON, not known, fact)
    repeats: bool                               # a condition listed twice: count failures one by one
    fixed: int | None                           # the amount when it does not depend on facts
    head: bytes                                 # its answer item up to the amount
    item: bytes | None                          # its whole answer item when matched (fixed amount, not granted)
    item_granted: bytes | None                  # the same, granted

    def write(self, amount: int, miss: int, known: dict[str, Any], granted: bool) -> bytes:
        """Its answer item (PolicyMatch as JSON): the conditions in `miss` are the missing ones."""
        matched, missing = [], []
        for bit, words, unknown, fact in self.conditions:
            if miss >> bit & 1:
                missing.append(words if fact is None or fact in known else unknown)
            else:
                matched.append(words)
        return b"".join((self.head, str(amount).encode(), b',"matched":[', b",".join(matched), b'],"missing":[',
                         b",".join(missing), b'],"granted":', b"true}" if granted else b"false}"))


def _key(c: rules.Condition, definitions: dict[str, rules.Definition]) -> str:
    """The condition's meaning, definitions expanded: equal keys test the same."""
    def tree(c: rules.Condition) -> Any:
        if c.rule is not None:
            d = definitions[c.rule]
            return [d.mode, [tree(x) for x in d.conditions]]
        return [c.fact, c.op, c.value if c.op not in ("present", "absent") else None]
    return json.dumps(tree(c), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _head(s: Source) -> bytes:
    """PolicyMatch's JSON up to its amount, written by its own serialiser."""
    whole = PolicyMatch(policy_id=s.id, name=s.name, mode=s.mode, amount=0, matched=[], missing=[],
                        granted=False).model_dump_json().encode()
    head = whole[:whole.index(b'"amount":') + len(b'"amount":')]
    assert whole == head + b'0,"matched":[],"missing":[],"granted":false}'
    return head


class Matcher:
    """The published policies of one generation, compiled; immutable, shared by every request."""

    def __init__(self, sources: list[Source], near: int, shown: int) -> None:
        self.near, self.shown = near, shown
        index: dict[str, int] = {}
        self._tests: list[rules.Test] = []
        self._by_type: dict[str, list[_Compiled]] = {}
        self._open: dict[str, tuple[dt.date, list[tuple[Any, ...]]]] = {}
        for s in sources:
            mask, conds, bits = 0, [], []
            for c in s.eligibility:
                key = _key(c, s.definitions)
                bit = index.get(key)
                if bit is None:
                    bit = index[key] = len(self._tests)
                    self._tests.append(rules.compile_condition(c, s.definitions))
                mask |= 1 << bit
                bits.append(bit)
                words = rules.describe(c)
                conds.append((bit, to_json(words), to_json(words + " (not known)"), c.fact))
            p = _Compiled(s, mask, tuple(conds), len(set(bits)) != len(bits), s.amount.fixed, _head(s), None, None)
            if p.fixed is not None:
                p = replace(p, item=p.write(p.fixed, 0, {}, False), item_granted=p.write(p.fixed, 0, {}, True))
            self._by_type.setdefault(s.subject_type, []).append(p)
        self.conditions = len(self._tests)

    def _open_on(self, subject_type: str, today: dt.date) -> list[tuple[Any, ...]]:
        """The policies of this kind of subject open on `today`, as the loop below reads them."""
        day, rows = self._open.get(subject_type, (None, []))
        if day != today:
            rows = [(p.mask, p.item, p.item_granted, p.source.id, p.repeats, p.fixed, p)
                    for p in self._by_type.get(subject_type, []) if p.source.starts_on <= today <= p.source.ends_on]
            self._open[subject_type] = (today, rows)
        return rows

    def answer(self, subject_id: str, subject_type: str, known: dict[str, Any], granted: set[uuid.UUID],
               today: dt.date) -> bytes:
        """The answer (MatchesRead as JSON): every open policy the subject qualifies for, with
        the conditions that held, then the near ones (highest amounts first) with what is missing."""
        rows = self._open_on(subject_type, today)
        failed = 0
        if rows:
            for bit, test in enumerate(self._tests):
                if not test(known):
                    failed |= 1 << bit
        eligible: list[bytes] = []
        near: list[tuple[int, int, _Compiled, int]] = []
        limit = self.near
        for mask, item, item_granted, policy_id, repeats, fixed, p in rows:
            miss = mask & failed
            if not miss:
                if item is None:
                    eligible.append(p.write(p.source.amount.amount(known), 0, known, policy_id in granted))
                else:
                    eligible.append(item_granted if granted and policy_id in granted else item)
            elif (miss.bit_count() if not repeats else self._failures(p, miss)) <= limit:
                # highest amount first; of one amount, in the policies' order
                near.append((-(fixed if fixed is not None else p.source.amount.amount(known)), len(near), p, miss))
        shown = [p.write(-amount, miss, known, p.source.id in granted)
                 for amount, _, p, miss in heapq.nsmallest(self.shown, near)]
        return b"".join((b'{"subject_id":', json.dumps(subject_id).encode(), b',"eligible":[', b",".join(eligible),
                         b'],"near":[', b",".join(shown), b"]}"))

    @staticmethod
    def _failures(p: _Compiled, miss: int) -> int:
        return sum(1 for bit, _, _, _ in p.conditions if miss >> bit & 1)
