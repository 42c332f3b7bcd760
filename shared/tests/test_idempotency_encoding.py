"""The stored answer of an Idempotency-Key: a pydantic model is encoded with its own JSON dump,
giving exactly what jsonable_encoder gave (the stored bytes and the replay are unchanged)."""

import datetime as dt
import decimal
import enum
import json
import uuid

from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from tongban.shared.idempotency import _encoded


class Colour(enum.StrEnum):
    red = "red"


class Inner(BaseModel):
    at: dt.datetime
    amount: decimal.Decimal
    day: dt.date


class Outer(BaseModel):
    id: uuid.UUID
    name: str
    aliased: str = Field(alias="otherName")
    colour: Colour
    inner: Inner
    items: list[Inner]
    extra: dict[str, object] | None = None
    ratio: float = 1.5


def test_a_model_is_encoded_as_jsonable_encoder_did() -> None:
    inner = Inner(at=dt.datetime(2026, 12, 28, 9, 30, tzinfo=dt.UTC), amount=decimal.Decimal("12.50"),
                  day=dt.date(2027, 6, 30))
    body = Outer(id=uuid.uuid4(), name="办事", otherName="x", colour=Colour.red, inner=inner, items=[inner, inner],
                 extra={"k": [1, "二", None]})
    got, want = _encoded(body), jsonable_encoder(body)
    assert got == want
    assert json.dumps(got, ensure_ascii=False) == json.dumps(want, ensure_ascii=False)
    assert got["otherName"] == "x" and got["extra"] == {"k": [1, "二", None]}


def test_anything_else_goes_through_jsonable_encoder() -> None:
    body = {"at": dt.date(2027, 1, 1), "n": [1, 2]}
    assert _encoded(body) == jsonable_encoder(body) == {"at": "2027-01-01", "n": [1, 2]}
