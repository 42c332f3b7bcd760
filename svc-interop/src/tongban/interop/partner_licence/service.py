"""A resident's licences from the partner city, seen and presented through their own city
(深中通办, `credentials.present`).

Resident's city (A): the citizen or company user asks here, with the consent she gave in this
city's app (`consent.py`); we call the issuing partner over the signed wire with the holder's
number and her consent token in the signed body (the number masked in the on-behalf-of header),
and hand back the partner's answer: the list, or a presentation whose QR payload any
verifier that trusts the partner's issuer keys accepts (our svc-credentials does, after the
trust sync). Issuing city (B): the partner's signed request is answered by our svc-credentials'
holder endpoints, called with our service token (`credentials:present`) and her consent in
`X-Holder-Consent`, which check the consent against the trust list, that the licence is the
holder's, and audit the disclosure (the service, the partner, the masked holder, the consent).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.db import audit
from tongban.interop.exchange.client import PartnerClient, PartnerRefused, PartnerUnavailable
from tongban.interop.exchange.service import Inbound
from tongban.interop.partner import service as partners
from tongban.interop.partner_licence import consent as consents
from tongban.interop.partner_licence.errors import LicenceNotFound, NotAHolder, NotPresentable, OnBehalfOfMismatch
from tongban.interop.partner_licence.schemas import (
    HolderLicencesAsk, LicencePage, PartnerLicencePage, PartnerLicenceRead, PartnerPresentationCreate,
    PartnerPresentationRead, PresentationAsk, PresentationMade,
)
from tongban.shared.auth import Principal
from tongban.shared.errors import InvalidField
from tongban.shared.ids import mask_resident_id
from tongban.shared.pagination import PageParams
from tongban.shared.service_auth import UpstreamUnavailable

EXCHANGE_LIST = "/api/v1/interop/exchange/holder-licences"
EXCHANGE_PRESENT = "/api/v1/interop/exchange/presentations"
HOLDER_LICENCES = "/api/v1/credentials/holders/{holder}/licences"
HOLDER_PRESENT = "/api/v1/credentials/holders/{holder}/licences/{licence}/presentations"
# Message ids of a resident's retried presentation request (same Idempotency-Key) are derived,
# so the partner replays its first answer instead of making a second presentation.
MESSAGE_IDS = uuid.UUID("6f1d2c1e-7d55-4c59-9d3e-3a6f0e1b2c40")


# --- the issuing city's side (B): answer the partner from our svc-credentials ---------------

def _check_on_behalf_of(inbound: Inbound, holder_id: str) -> None:
    """The masked header, when sent, must name the holder the signed body names."""
    if inbound.on_behalf_of is not None and inbound.on_behalf_of != mask_resident_id(holder_id.upper()):
        raise OnBehalfOfMismatch(f"{inbound.on_behalf_of!r} does not mask the body's holder_id")


def _need(http: httpx.AsyncClient | None) -> httpx.AsyncClient:
    if http is None:
        raise UpstreamUnavailable("svc-credentials is not configured here (INTEROP_CREDENTIALS_URL)")
    return http


def _refusal(resp: httpx.Response, what: str) -> Exception:
    """svc-credentials' answer as the partner should hear it: its own input's faults as 404/409/422,
    anything else (our service client misconfigured, svc-credentials failing) as 503."""
    try:
        data = resp.json()
    except ValueError:
        data = {}
    if resp.status_code == 404:
        return LicenceNotFound(str(data.get("detail") or "no such licence of this holder"))
    if resp.status_code == 409:
        return NotPresentable(str(data.get("detail") or "the licence cannot be presented"))
    if resp.status_code == 403 and data.get("code") == "consent_required":
        return consents.PartnerConsentRequired(str(data.get("detail") or "the holder's consent does not hold here"))
    if resp.status_code == 422:
        first = (data.get("errors") or [{}])[0]
        return InvalidField(str(first.get("field") or "body"), str(first.get("message") or data.get("detail")
                                                                   or "invalid"))
    return UpstreamUnavailable(f"svc-credentials answered {resp.status_code} ({data.get('code')}) to {what}")


async def list_for_partner(http: httpx.AsyncClient | None, inbound: Inbound, ask: HolderLicencesAsk) -> LicencePage:
    """The holder's licences issued here, as our svc-credentials lists them for the partner."""
    _check_on_behalf_of(inbound, ask.holder_id)
    try:
        resp = await _need(http).get(HOLDER_LICENCES.format(holder=ask.holder_id), params={
            "partner": inbound.partner.region_code, "limit": ask.limit, "offset": ask.offset},
            headers={consents.HEADER: ask.consent})
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"svc-credentials unreachable: {type(exc).__name__}") from exc
    if resp.status_code != 200:
        raise _refusal(resp, "a holder's licences")
    return LicencePage.model_validate(resp.json())


async def present_for_partner(http: httpx.AsyncClient | None, inbound: Inbound,
                              ask: PresentationAsk) -> PresentationMade:
    """A presentation made by our svc-credentials for the holder; the partner's message id is the
    idempotency key there too, so a resend (or our retry) gets the same presentation."""
    _check_on_behalf_of(inbound, ask.holder_id)
    body = {"partner": inbound.partner.region_code, "purpose": ask.purpose, "single_use": ask.single_use}
    if ask.fields is not None:
        body["fields"] = ask.fields
    key = f"{inbound.partner.region_code}:{inbound.message_id}"
    try:
        resp = await _need(http).post(HOLDER_PRESENT.format(holder=ask.holder_id, licence=ask.licence), json=body,
                                      headers={"Idempotency-Key": key, consents.HEADER: ask.consent})
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"svc-credentials unreachable: {type(exc).__name__}") from exc
    if resp.status_code not in (200, 201):
        raise _refusal(resp, "a presentation")
    return PresentationMade.model_validate(resp.json())


# --- the resident's city (A): ask the issuing partner ----------------------------------------

def holder_of(principal: Principal) -> str:
    """Whose licences: a company user's company, else the citizen's own resident ID number."""
    if principal.role == "company" and principal.credit_code:
        return principal.credit_code
    if principal.id_number:
        return principal.id_number
    if principal.credit_code:
        return principal.credit_code
    raise NotAHolder()


def _partner_answer(exc: PartnerRefused) -> Exception:
    """The partner's refusals that are about the resident's request keep their meaning here."""
    status = exc.extra.get("partner_status")
    if status == 404:
        return LicenceNotFound("the partner city has no such licence of yours")
    if status == 409:
        return NotPresentable("the partner city says this licence cannot be presented (suspended, revoked "
                              "or expired)")
    if status == 403 and exc.extra.get("partner_code") == "consent_required":
        return consents.PartnerConsentRequired(f"the partner city does not accept your consent: "
                                               f"{exc.extra.get('partner_detail') or 'refused'}; {consents.ASK}")
    return exc


async def list_partner_licences(session: AsyncSession, client: PartnerClient, principal: Principal, partner: str,
                                page: PageParams, consent_token: str | None, our_region: str) -> PartnerLicencePage:
    """The caller's licences issued by `partner`, from the partner itself (signed and logged),
    under the consent she gave here for that partner."""
    await partners.get(session, partner)
    holder = holder_of(principal)
    consents.claims(consent_token, holder, our_region, partner)
    ask = HolderLicencesAsk(holder_id=holder, consent=consent_token, limit=page.limit, offset=page.offset)
    try:
        answer = await client.call(partner, "POST", EXCHANGE_LIST, ask.model_dump(mode="json"),
                                   on_behalf_of=mask_resident_id(holder))
    except PartnerRefused as exc:
        raise _partner_answer(exc) from None
    got = _validated(LicencePage, answer.body, partner)
    return PartnerLicencePage(items=[PartnerLicenceRead(**i.model_dump(), partner=partner) for i in got.items],
                              total=got.total, limit=got.limit, offset=got.offset, next_offset=got.next_offset)


async def present_partner_licence(session: AsyncSession, client: PartnerClient, principal: Principal, partner: str,
                                  licence: str, body: PartnerPresentationCreate, idempotency_key: str | None,
                                  consent_token: str | None, our_region: str) -> PartnerPresentationRead:
    """A presentation of one of the caller's licences issued by `partner`, made there under the
    consent she gave here; audited here (with the consent's id)."""
    await partners.get(session, partner)
    holder = holder_of(principal)
    given = consents.claims(consent_token, holder, our_region, partner)
    message_id = (str(uuid.uuid5(MESSAGE_IDS, f"{principal.sub}\n{partner}\n{idempotency_key}"))
                  if idempotency_key else None)
    ask = PresentationAsk(holder_id=holder, consent=consent_token, licence=licence, purpose=body.purpose, fields=body.fields,
                          single_use=body.single_use)
    try:
        answer = await client.call(partner, "POST", EXCHANGE_PRESENT, ask.model_dump(mode="json", exclude_none=True),
                                   on_behalf_of=mask_resident_id(holder), message_id=message_id)
    except PartnerRefused as exc:
        raise _partner_answer(exc) from None
    made = _validated(PresentationMade, answer.body, partner)
    await audit.record(session, principal, "partner_licence.presented", "partner_licence", made.identifier[:200],
                       reason=body.purpose, detail={"partner": partner, "presentation": made.id,
                                                    "message_id": answer.message_id,
                                                    "consent": given.get("cid")})
    return PartnerPresentationRead(**made.model_dump(), partner=partner)


def _validated(model: Any, body: Any, partner: str) -> Any:
    """The partner's 2xx answer in our shape, or 503: a signed answer we cannot read is not usable."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise PartnerUnavailable(f"{partner} answered in a shape we do not read "
                                 f"({exc.error_count()} problems)") from None
