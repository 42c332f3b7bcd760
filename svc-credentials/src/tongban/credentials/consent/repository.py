import datetime as dt
import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.consent.models import Consent, LicenceUse
from tongban.credentials.licence.models import Licence


async def add(session: AsyncSession, row: Consent | LicenceUse) -> None:
    session.add(row)
    await session.flush()
    await session.refresh(row)


async def get(session: AsyncSession, consent_id: uuid.UUID) -> Consent | None:
    return await session.get(Consent, consent_id)


async def consents_for(session: AsyncSession, holder_id: str, type_code: str, case_id: uuid.UUID) -> list[Consent]:
    """Every consent the holder gave for this licence type and case, newest first."""
    return list((await session.execute(select(Consent).where(
        Consent.holder_id == holder_id, Consent.licence_type_code == type_code, Consent.case_id == case_id)
        .order_by(Consent.created_at.desc()))).scalars())


async def current_licence(session: AsyncSession, holder_id: str, type_code: str, on: dt.date) -> Licence | None:
    """The holder's newest valid, unexpired licence of this type."""
    return (await session.execute(select(Licence).where(
        Licence.holder_id == holder_id, Licence.type_code == type_code, Licence.status == "valid",
        (Licence.valid_until.is_(None)) | (Licence.valid_until >= on))
        .order_by(Licence.issued_at.desc(), Licence.id.desc()).limit(1))).scalar_one_or_none()


def consents_query(holder_id: str) -> Select[tuple[Consent]]:
    return select(Consent).where(Consent.holder_id == holder_id).order_by(Consent.created_at.desc(), Consent.id)


def uses_query(holder_id: str) -> Select[tuple[LicenceUse]]:
    return select(LicenceUse).where(LicenceUse.holder_id == holder_id).order_by(LicenceUse.at.desc(),
                                                                                 LicenceUse.id.desc())
