"""Licences as facts for matching (`licence.<type code>`): a read copy kept from svc-credentials'
events. An issued licence is a fact of its holder; a suspension or revocation takes it away
(unless another valid licence of that type remains). Each change re-evaluates that holder only.
The events come through svc-cases' one consumer of svc-credentials' licence events
(tongban.cases.consumers.credentials)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.benefit import repository, service
from tongban.shared.contracts.credentials import (
    LICENCE_ISSUED, LICENCE_REINSTATED, LICENCE_REVOKED, LICENCE_SUSPENDED, LicenceIssuedV1, LicenceStatusChangedV1,
)
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import PoisonMessage

SOURCE = "system:credentials"
HOLDER_TYPES = {"111": "person", "001": "company"}


async def on_licence_event(session: AsyncSession, event: Envelope) -> None:
    if event.type == LICENCE_ISSUED:
        data = LicenceIssuedV1.model_validate(event.data)
        if len(data.holder_id) > 18 or len(data.type_code) > 40:
            raise PoisonMessage("licence holder or type longer than any known")
        await repository.put_licence(session, data.licence_id, data.holder_id, data.type_code, "valid")
        # The licence just kept is valid: its holder holds the type, with no need to ask.
        await _set(session, data.holder_id, HOLDER_TYPES.get(data.holder_type, "company"), data.type_code, True)
    elif event.type in (LICENCE_SUSPENDED, LICENCE_REVOKED, LICENCE_REINSTATED):
        change = LicenceStatusChangedV1.model_validate(event.data)
        known = await repository.licence(session, change.licence_id)
        if known is None:
            return  # issued before this copy was kept: nothing to take away
        await repository.put_licence(session, change.licence_id, known.holder_id, known.type_code, change.status)
        subject = await repository.subject(session, known.holder_id)
        held = await repository.holds_valid(session, known.holder_id, known.type_code)
        await _set(session, known.holder_id, subject.subject_type if subject else "company", known.type_code, held)


async def _set(session: AsyncSession, holder_id: str, holder_type: str, type_code: str, held: bool) -> None:
    await service.set_facts(session, holder_id, holder_type, {f"licence.{type_code}": True if held else None},
                            "licence", SOURCE)
