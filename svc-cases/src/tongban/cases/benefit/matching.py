""""What do I qualify for", answered from the published policies compiled together.

Hundreds of policies ask the same few facts, often with the same condition (`credit.level in
[A, B]`, a licence held): the policies of one generation are compiled into one table of distinct
conditions (a named definition counts as one condition: its whole structure is the key), each
policy a bit mask over that table. A subject's facts are asked each distinct condition once; a
policy's failures are then its mask AND the failed bits, so 500 policies cost 500 integer ANDs.
What a match says (the conditions in words, the answer item as JSON) is prepared at compile time;
a request only writes the near matches (those missing up to `near` conditions), at most `shown`.

The answer is the same as asking `rules.evaluate` of every open policy in turn (a test compares).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

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
    conditions: tuple[tuple[int, str, str | None], ...]  # (bit, in words, fact asked) in its order
    repeats: bool                               # a condition listed twice: count failures one by one
    fixed: int | None                           # the amount when it does not depend on facts
    item: bytes | None                          # its answer item when matched (fixed amount, not granted)
    item_granted: bytes | None                  # the same, granted


def _key(c: rules.Condition, definitions: dict[str, rules.Definition]) -> str:
    """The condition's meaning, definitions expanded: equal keys test the same."""
    def tree(c: rules.Condition) -> Any:
        if c.rule is not None:
            d = definitions[c.rule]
            return [d.mode, [tree(x) for x in d.conditions]]
        return [c.fact, c.op, c.value if c.op not in ("present", "absent") else None]
    return json.dumps(tree(c), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _item(s: Source, amount: int, matched: list[str], missing: list[str], granted: bool) -> bytes:
    return PolicyMatch(policy_id=s.id, name=s.name, mode=s.mode, amount=amount, matched=matched, missing=missing,
                       granted=granted).model_dump_json().encode()


class Matcher:
    """The published policies of one generation, compiled; immutable, shared by every request."""

    def __init__(self, sources: list[Source], near: int, shown: int) -> None:
        self.near, self.shown = near, shown
        index: dict[str, int] = {}
        self._tests: list[rules.Test] = []
        self._by_type: dict[str, list[_Compiled]] = {}
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
                conds.append((bit, rules.describe(c), c.fact))
            fixed = s.amount.fixed
            words = [w for _, w, _ in conds]
            self._by_type.setdefault(s.subject_type, []).append(_Compiled(
                s, mask, tuple(conds), len(set(bits)) != len(bits), fixed,
                _item(s, fixed, words, [], False) if fixed is not None else None,
                _item(s, fixed, words, [], True) if fixed is not None else None))
        self.conditions = len(self._tests)

    def answer(self, subject_id: str, subject_type: str, known: dict[str, Any], granted: set[uuid.UUID],
               today: dt.date) -> bytes:
        """The answer (MatchesRead as JSON): every open policy the subject qualifies for, with
        the conditions that held, then the near ones (highest amounts first) with what is missing."""
        compiled = self._by_type.get(subject_type, [])
        failed = 0
        if compiled:
            for bit, test in enumerate(self._tests):
                if not test(known):
                    failed |= 1 << bit
        eligible: list[bytes] = []
        near: list[tuple[int, _Compiled, int]] = []
        for p in compiled:
            s = p.source
            if not s.starts_on <= today <= s.ends_on:
                continue
            miss = p.mask & failed
            if miss == 0:
                if p.item is not None:
                    eligible.append(p.item_granted if s.id in granted else p.item)
                else:
                    eligible.append(_item(s, s.amount.amount(known), [w for _, w, _ in p.conditions], [],
                                          s.id in granted))
            elif self._failures(p, miss) <= self.near:
                near.append((p.fixed if p.fixed is not None else s.amount.amount(known), p, miss))
        near.sort(key=lambda n: -n[0])   # stable: policies of one amount keep their order
        shown = []
        for amount, p, miss in near[:self.shown]:
            matched, missing = [], []
            for bit, words, fact in p.conditions:
                if miss >> bit & 1:
                    missing.append(words if fact is None or fact in known else words + " (not known)")
                else:
                    matched.append(words)
            shown.append(_item(p.source, amount, matched, missing, p.source.id in granted))
        return b"".join((b'{"subject_id":', json.dumps(subject_id).encode(), b',"eligible":[', b",".join(eligible),
                         b'],"near":[', b",".join(shown), b"]}"))

    @staticmethod
    def _failures(p: _Compiled, miss: int) -> int:
        if not p.repeats:
            return miss.bit_count()
        return sum(1 for bit, _, _ in p.conditions if miss >> bit & 1)
