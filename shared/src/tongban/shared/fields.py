"""Field types every service's schemas and routes share, so each says its bounds once."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from annotated_types import Interval
from pydantic import AfterValidator, WithJsonSchema

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Integers a route takes in its path or query, bounded by the column they meet: a larger number
# is the caller's 422, never the database's overflow (a 500). (JSON bodies are bounded to 64 bits
# for every service by tongban.shared.inputs.)
Int64 = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]
Id32 = Annotated[int, Interval(ge=1, le=INT32_MAX)]      # the key of an `integer` (serial) column
Id64 = Annotated[int, Interval(ge=1, le=INT64_MAX)]      # the key of a `bigint` (bigserial) column



def _naive(value: dt.time) -> dt.time:
    # pydantic reads a number as seconds past midnight UTC: an aware time, which cannot be
    # compared with the naive ones beside it (a TypeError, so a 500, in a model's validator).
    if value.tzinfo is not None:
        raise ValueError("a local time is written HH:MM[:SS], without a UTC offset")
    return value


# A wall-clock time of the place (a hall's opening hours), with no UTC offset: JSON Schema's
# `format: time` (RFC 3339 full-time) requires an offset, so it is documented by its pattern.
LocalTime = Annotated[dt.time, AfterValidator(_naive), WithJsonSchema({
    "type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$",
    "description": "local time, HH:MM[:SS[.ffffff]], no UTC offset"})]
