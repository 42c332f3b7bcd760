"""Per-item handling configuration and the validation of application forms against it."""

import datetime as dt
import re
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.db import audit
from tongban.cases.item_config import repository
from tongban.cases.item_config.models import ItemConfig
from tongban.cases.item_config.schemas import FormField, ItemConfigUpdate
from tongban.shared.auth import Principal
from tongban.shared.errors import InvalidField
from tongban.shared.ids import InvalidIdentifier, normalize_credit_code, normalize_resident_id

_PHONE = re.compile(r"^1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")


async def put_config(session: AsyncSession, basic_code: str, body: ItemConfigUpdate, actor: Principal) -> ItemConfig:
    """Create or replace an item's configuration (a new version each time), audited."""
    row = await repository.get(session, basic_code, for_update=True)
    values = body.model_dump(mode="json")
    if row is None:
        row = ItemConfig(basic_code=basic_code, version=1, updated_by=actor.sub, **values)
        await repository.add(session, row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
        row.version += 1
        row.updated_by = actor.sub
        row.updated_at = func.now()
        await session.flush()
        await session.refresh(row, ["updated_at"])  # the server's time, loaded now: no lazy load later
    await audit.record(session, actor, "item_config.put", "item_config", basic_code, None, {"version": row.version})
    return row


def validate_form(fields: list[dict[str, Any]] | None, data: dict[str, Any],
                  only_known: bool = False) -> dict[str, Any]:
    """Check `data` against the form's fields; returns it normalised (ID numbers canonical).

    Raises InvalidField naming `form_data.<field>`; unknown fields are refused, or dropped with
    `only_known` (a bundle's merged form). Without a configured form any object passes.
    """
    if fields is None:
        return data
    spec = {f["name"]: FormField.model_validate(f) for f in fields}
    for name in data:
        if name not in spec and not only_known:
            raise InvalidField(f"form_data.{name}", "this item's form has no such field")
    out: dict[str, Any] = {}
    for name, field in spec.items():
        value = data.get(name)
        if value is None or value == "":
            if field.required:
                raise InvalidField(f"form_data.{name}", "required")
            continue
        out[name] = _check(field, value)
    return out


def _check(field: FormField, value: Any) -> Any:
    where = f"form_data.{field.name}"
    try:
        value = _coerce(field, value)
    except (ValueError, TypeError, InvalidIdentifier) as exc:
        raise InvalidField(where, str(exc)) from exc
    if field.enum is not None and value not in field.enum:
        raise InvalidField(where, f"must be one of {field.enum}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if field.minimum is not None and value < field.minimum:
            raise InvalidField(where, f"must be at least {field.minimum:g}")
        if field.maximum is not None and value > field.maximum:
            raise InvalidField(where, f"must be at most {field.maximum:g}")
    if isinstance(value, str):
        if field.min_length is not None and len(value) < field.min_length:
            raise InvalidField(where, f"must have at least {field.min_length} characters")
        if field.max_length is not None and len(value) > field.max_length:
            raise InvalidField(where, f"must have at most {field.max_length} characters")
        if field.pattern is not None and not re.fullmatch(field.pattern, value):
            raise InvalidField(where, f"does not match {field.pattern}")
    return value


def _coerce(field: FormField, value: Any) -> Any:
    t = field.type
    if t == "boolean":
        if not isinstance(value, bool):
            raise TypeError("must be true or false")
        return value
    if t == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("must be an integer")
        return value
    if t == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("must be a number")
        return value
    if not isinstance(value, str):
        raise TypeError("must be a string")
    if t == "date":
        return dt.date.fromisoformat(value).isoformat()
    if t == "resident_id":
        return normalize_resident_id(value)
    if t == "credit_code":
        return normalize_credit_code(value)
    if t == "phone" and not _PHONE.match(value):
        raise ValueError("not a mainland mobile or landline number")
    return value
