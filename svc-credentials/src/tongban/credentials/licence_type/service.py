"""Licence types: define one (admins), and check a licence's data against its field schema."""

import datetime as dt
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.db import audit
from tongban.credentials.licence_type import repository
from tongban.credentials.licence_type.errors import LicenceTypeTaken
from tongban.credentials.licence_type.models import LicenceType
from tongban.credentials.licence_type.schemas import LicenceTypeCreate
from tongban.credentials.signing import service as signing
from tongban.shared.auth import Principal
from tongban.shared.errors import InvalidField


async def create(session: AsyncSession, data: LicenceTypeCreate, actor: Principal) -> LicenceType:
    """Define a licence type; its issuer is registered on first sight."""
    if await repository.get(session, data.code) is not None:
        raise LicenceTypeTaken(f"licence type {data.code} exists")
    await signing.ensure_issuer(session, data.issuer_code, data.issuer_name, actor)
    row = LicenceType(code=data.code, name=data.name, issuer_code=data.issuer_code, holder_type=data.holder_type,
                      fields=[f.model_dump() for f in data.fields], validity=data.validity,
                      validity_years=data.validity_years, created_by=actor.sub,
                      template=data.template.model_dump() if data.template is not None else None)
    try:
        async with session.begin_nested():
            await repository.add(session, row)
    except IntegrityError as exc:
        raise LicenceTypeTaken(f"licence type {data.code} exists") from exc
    await audit.record(session, actor, "licence_type.created", "licence_type", data.code,
                       detail={"issuer_code": data.issuer_code})
    return row


_PY_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                          "boolean": (bool,), "date": (str,)}


def check_data(licence_type: LicenceType, data: dict[str, Any], prefix: str = "data") -> dict[str, Any]:
    """Return `data` if it fits the type's field schema; else InvalidField naming the field."""
    specs = {f["name"]: f for f in licence_type.fields}
    for name in data:
        if name not in specs:
            raise InvalidField(f"{prefix}.{name}", f"licence type {licence_type.code} has no field {name}")
    for name, spec in specs.items():
        value = data.get(name)
        if value is None:
            if spec.get("required", True):
                raise InvalidField(f"{prefix}.{name}", "is required")
            continue
        kind = spec.get("type", "string")
        if not isinstance(value, _PY_TYPES[kind]) or (kind != "boolean" and isinstance(value, bool)):
            raise InvalidField(f"{prefix}.{name}", f"must be a {kind}")
        if kind == "date":
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise InvalidField(f"{prefix}.{name}", "must be a date (YYYY-MM-DD)") from None
        if kind == "string" and len(value) > (spec.get("max_length") or 10_000):
            raise InvalidField(f"{prefix}.{name}", f"at most {spec.get('max_length') or 10_000} characters")
        if kind == "number" and isinstance(value, float) and value != value:
            raise InvalidField(f"{prefix}.{name}", "must be a finite number")
    return {k: v for k, v in data.items() if v is not None}


def valid_until(licence_type: LicenceType, valid_from: dt.date, given: dt.date | None) -> dt.date | None:
    """The end of validity by the type's rule; InvalidField when the given date breaks it."""
    if licence_type.validity == "permanent":
        if given is not None:
            raise InvalidField("valid_until", f"licence type {licence_type.code} is valid without end")
        return None
    if licence_type.validity == "years":
        years = licence_type.validity_years or 1
        try:
            end = valid_from.replace(year=valid_from.year + years)
        except ValueError:  # 29 February
            end = valid_from.replace(year=valid_from.year + years, day=28)
        return end - dt.timedelta(days=1)
    if given is None:
        raise InvalidField("valid_until", f"licence type {licence_type.code} needs an end of validity")
    if given < valid_from:
        raise InvalidField("valid_until", "cannot be before valid_from")
    return given
