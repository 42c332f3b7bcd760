"""Eligibility rules of benefit policies (惠企/惠民政策): data over named facts, never code.

A rule is a list of conditions that must all hold; a condition asks a fact (`company.employees`
`gte` 10) or names a definition (`{"rule": "small_food_business"}`), a named group of conditions
held `all` or `any`. Configuration is refused (422) for a fact nobody knows, a definition that
is not there or that reaches itself, and values of the wrong kind. Evaluation says, condition
by condition, what held and what did not: the reasons of a match, what is missing for a near one.

Ages are not stored (they change every day): `company.age_years` is read from the registration
date, `person.age` from the birth date in the resident ID number, both on the evaluation day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tongban.shared.errors import AppError

Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "present", "absent"]

# Every fact a rule may ask, with its kind. `licence.<type code>` (held valid: present/absent)
# is open-ended; the rest are the platform's known facts and what a subject may declare.
FACTS: dict[str, str] = {
    "company.industry_code": "str", "company.size": "str", "company.district": "str",
    "company.age_years": "int", "company.employees": "int", "company.tax_category": "str",
    "person.age": "int", "person.residence": "str", "person.household": "str", "person.status": "str",
    "credit.level": "str",
}
# Facts computed from a stored date on the day of evaluation.
DERIVED = {"company.age_years": "company.established_on", "person.age": "person.birth_date"}
# What a subject may declare (recorded as declared, never as verified).
DECLARABLE = {
    "company": {"company.industry_code", "company.size", "company.district", "company.employees",
                "company.tax_category", "company.established_on"},
    "person": {"person.residence", "person.household", "person.status"},
}
LICENCE_PREFIX = "licence."
CASE_PREFIX = "case.completed."     # `case.completed.<item code>`: has a completed case of that item
MAX_DEPTH = 8


class RuleInvalid(AppError):
    code, status, title = "rule_invalid", 422, "The policy's rule cannot be used"

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}", errors=[{"field": where, "message": message}])


class Condition(BaseModel):
    """A fact compared with a value, or (with `rule`) a named definition of the policy."""

    model_config = ConfigDict(extra="forbid")

    fact: str | None = Field(default=None, max_length=60, examples=["company.employees"])
    op: Op = "eq"
    value: Any = None
    rule: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,39}$")

    @model_validator(mode="after")
    def _one_of(self) -> Condition:
        if (self.fact is None) == (self.rule is None):
            raise ValueError("a condition names either a `fact` or a `rule`")
        return self


class Definition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["all", "any"] = "all"
    conditions: list[Condition] = Field(min_length=1, max_length=30)


def fact_kind(name: str) -> str | None:
    if name.startswith(LICENCE_PREFIX):
        code = name.removeprefix(LICENCE_PREFIX)
        return "licence" if 4 <= len(code) <= 40 and code.isalnum() else None
    if name.startswith(CASE_PREFIX):
        code = name.removeprefix(CASE_PREFIX)
        return "licence" if len(code) == 12 and code.isdigit() else None   # held or not, like a licence
    return FACTS.get(name)


def validate(eligibility: list[Condition], definitions: dict[str, Definition], subject_type: str) -> None:
    """Refuse (RuleInvalid, 422) an unknown fact, a fact of the other kind of subject, a value of
    the wrong kind, a missing definition or one that reaches itself."""
    for name, d in definitions.items():
        for i, c in enumerate(d.conditions):
            _check(c, f"definitions.{name}.conditions[{i}]", definitions, subject_type)
    for i, c in enumerate(eligibility):
        _check(c, f"eligibility[{i}]", definitions, subject_type)
    for name in definitions:
        _no_cycle(name, definitions, (), f"definitions.{name}")


def _check(c: Condition, where: str, definitions: dict[str, Definition], subject_type: str) -> None:
    if c.rule is not None:
        if c.rule not in definitions:
            raise RuleInvalid(where, f"no definition named {c.rule!r}")
        return
    assert c.fact is not None
    kind = fact_kind(c.fact)
    if kind is None:
        raise RuleInvalid(where, f"unknown fact {c.fact!r} (known: {', '.join(sorted(FACTS))}, licence.<type>, "
                                f"case.completed.<item code>)")
    side = c.fact.split(".", 1)[0]
    if side in ("company", "person") and side != subject_type:
        raise RuleInvalid(where, f"{c.fact} is not a fact about a {subject_type}")
    if kind == "licence":
        if c.op not in ("present", "absent"):
            raise RuleInvalid(where, "a licence or completed-case condition takes `present` or `absent`")
        return
    if c.op in ("present", "absent"):
        return
    values = c.value if c.op == "in" else [c.value]
    if c.op == "in" and (not isinstance(c.value, list) or not c.value or len(c.value) > 200):
        raise RuleInvalid(where, "`in` takes a list of 1 to 200 values")
    wanted = int if kind == "int" else str
    if any(isinstance(v, bool) or not isinstance(v, wanted) for v in values):
        raise RuleInvalid(where, f"{c.fact} compares with {'whole numbers' if kind == 'int' else 'text'}")
    if kind == "str" and c.op in ("gt", "gte", "lt", "lte") and c.fact != "credit.level":
        raise RuleInvalid(where, f"{c.fact} takes eq, ne, in, present or absent")


def _no_cycle(name: str, definitions: dict[str, Definition], path: tuple[str, ...], where: str) -> None:
    if name in path:
        raise RuleInvalid(where, "circular rule: " + " → ".join((*path, name)))
    if len(path) >= MAX_DEPTH:
        raise RuleInvalid(where, f"definitions nest deeper than {MAX_DEPTH}")
    for c in definitions[name].conditions:
        if c.rule is not None:
            _no_cycle(c.rule, definitions, (*path, name), where)


# --- evaluation -------------------------------------------------------------------------------


@dataclass
class Verdict:
    eligible: bool
    matched: list[str] = field(default_factory=list)   # what held, in words
    missing: list[str] = field(default_factory=list)   # what did not (or is not known)


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def known_facts(facts: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """The stored facts with the derived ones (ages) computed for `today`."""
    out = dict(facts)
    for derived, stored in DERIVED.items():
        raw = facts.get(stored)
        if isinstance(raw, str):
            try:
                out[derived] = age_on(dt.date.fromisoformat(raw), today)
            except ValueError:
                continue
    return out


def describe(c: Condition) -> str:
    if c.rule is not None:
        return f"rule {c.rule}"
    if c.op in ("present", "absent"):
        return f"{c.fact} {c.op}"
    return f"{c.fact} {c.op} {c.value}"


Check = tuple[str, "Test", str | None]     # (the condition in words, its test, the fact it asks)


def compile_checks(eligibility: list[Condition], definitions: dict[str, Definition]) -> list[Check]:
    """Each condition compiled once (a policy is evaluated for many subjects)."""
    return [(describe(c), _compile(c, definitions), c.fact) for c in eligibility]


def shortfall(checks: list[Check], known: dict[str, Any], limit: int) -> Verdict | None:
    """The verdict when at most `limit` conditions fail, else None (stops counting past the limit)."""
    v = Verdict(True)
    for words, test, fact in checks:
        if test(known):
            v.matched.append(words)
        else:
            v.eligible = False
            v.missing.append(words if fact is None or fact in known else words + " (not known)")
            if len(v.missing) > limit:
                return None
    return v


def evaluate(checks: list[Check], known: dict[str, Any]) -> Verdict:
    """Every condition asked (not only up to the first failure): the reasons and what is missing."""
    v = Verdict(True)
    for words, test, fact in checks:
        if test(known):
            v.matched.append(words)
        else:
            v.eligible = False
            v.missing.append(words if fact is None or fact in known else words + " (not known)")
    return v


class AmountRule(BaseModel):
    """A fixed amount, or `per` a whole-number fact × `rate`, at most `cap` (yuan, whole)."""

    model_config = ConfigDict(extra="forbid")

    fixed: int | None = Field(default=None, ge=0, le=10**10)
    per: str | None = Field(default=None, max_length=60)
    rate: int | None = Field(default=None, ge=0, le=10**8)
    cap: int | None = Field(default=None, ge=0, le=10**10)

    @model_validator(mode="after")
    def _shape(self) -> AmountRule:
        if (self.fixed is None) == (self.per is None):
            raise ValueError("an amount is `fixed`, or `per` a fact with a `rate`")
        if self.per is not None and (self.rate is None or FACTS.get(self.per) != "int"):
            raise ValueError("`per` names a whole-number fact and needs a `rate`")
        return self

    def amount(self, known: dict[str, Any]) -> int:
        if self.fixed is not None:
            return self.fixed
        n = known.get(self.per or "")
        total = (n if isinstance(n, int) and n > 0 else 0) * (self.rate or 0)
        return min(total, self.cap) if self.cap is not None else total


# --- compiled: conditions as closures (a publish asks them of 100,000 subjects) ----------------------

Test = Callable[[dict[str, Any]], bool]


def compile_rule(eligibility: list[Condition], definitions: dict[str, Definition]) -> Test:
    """One function saying whether `known` satisfies every condition (stops at the first that fails)."""
    tests = [_compile(c, definitions) for c in eligibility]
    return lambda known: all(t(known) for t in tests)


def compile_condition(c: Condition, definitions: dict[str, Definition]) -> Test:
    """One condition (a definition it names expanded) as a test of the known facts."""
    return _compile(c, definitions)


def _compile(c: Condition, definitions: dict[str, Definition]) -> Test:
    if c.rule is not None:
        d = definitions[c.rule]
        parts = [_compile(x, definitions) for x in d.conditions]
        if d.mode == "all":
            return lambda known: all(t(known) for t in parts)
        return lambda known: any(t(known) for t in parts)
    fact, value = c.fact or "", c.value
    if c.op == "present":
        return lambda known: known.get(fact, False) is not False
    if c.op == "absent":
        return lambda known: known.get(fact, False) is False
    if c.op == "in":   # list membership compares with ==: never a TypeError
        allowed = value if isinstance(value, list) else []
        return lambda known: fact in known and known[fact] in allowed
    if c.op == "eq":
        return lambda known: fact in known and known[fact] == value
    if c.op == "ne":
        return lambda known: fact in known and known[fact] != value
    order: dict[str, Callable[[Any], bool]] = {
        "gt": lambda v: v > value, "gte": lambda v: v >= value, "lt": lambda v: v < value, "lte": lambda v: v <= value}
    check = order[c.op]

    def ordered(known: dict[str, Any]) -> bool:
        if fact not in known:
            return False
        try:
            return bool(check(known[fact]))
        except TypeError:   # a number compared with text: the condition does not hold
            return False
    return ordered
