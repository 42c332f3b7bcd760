import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.document.models import SealCertificate, SealedDocument
from tongban.credentials.seal.models import Seal


async def add(session: AsyncSession, row: SealCertificate | SealedDocument) -> None:
    session.add(row)
    await session.flush()


async def department_seal(session: AsyncSession, department: str, kind: str) -> Seal | None:
    return (await session.execute(select(Seal).where(Seal.company_code == department, Seal.kind == kind,
                                                     Seal.status == "active"))).scalar_one_or_none()


async def certificate(session: AsyncSession, seal_id: uuid.UUID) -> SealCertificate | None:
    return await session.get(SealCertificate, seal_id)


async def certificates(session: AsyncSession) -> list[SealCertificate]:
    return list((await session.execute(select(SealCertificate))).scalars())


async def seal_of_certificate(session: AsyncSession, sha256: str) -> Seal | None:
    stmt = select(Seal).join(SealCertificate, SealCertificate.seal_id == Seal.id).where(SealCertificate.sha256 == sha256)
    return (await session.execute(stmt)).scalar_one_or_none()


async def document(session: AsyncSession, document_id: uuid.UUID) -> SealedDocument | None:
    return await session.get(SealedDocument, document_id)


async def document_by_digest(session: AsyncSession, sha256: str) -> SealedDocument | None:
    stmt = select(SealedDocument).where(SealedDocument.sealed_sha256 == sha256)
    return (await session.execute(stmt)).scalar_one_or_none()
