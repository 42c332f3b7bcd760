"""The holder's consent for the partner city (深中通办), given in her own city's app and carried,
signed, to the city that holds her licences.

A resident of city A (her own city) asks, through A's app, to see the licences city B issued her.
A's svc-credentials signs her consent (`POST /me/partner-consents` with `partner` = B): a compact
token naming the holder, the asking city (`asker` = A), the city asked (`holder_city` = B), the
purpose and an expiry, signed by A's platform consent key (an issuer of A's, published in A's
`GET /keys`, and so on B's trust list once svc-interop syncs A's keys). A's svc-interop carries it
in the signed exchange; B's svc-interop forwards it in `X-Holder-Consent`; B's svc-credentials
lists or presents the holder's licences only when the token checks out: a key of the asking
region on B's trust list signed it, it names this holder, the asking region and B, and it has not
expired. Without it, B learns nothing but `consent_required`.

`TBC1.<base64url RFC 8785 JSON>.<base64url signature>` with claims
`{v, cid, holder, holder_type, asker, holder_city, purpose, iat, exp, iss, kid}`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.db import audit
from tongban.credentials.signing import algorithms, keystore
from tongban.credentials.signing import service as signing
from tongban.credentials.signing.token import CompactFormat
from tongban.credentials.trust import repository as trusted
from tongban.shared import clock
from tongban.shared.auth import ConsentRequired, Principal
from tongban.shared.ids import mask_resident_id

CONSENT_ACTOR = "system:partner-consent"
HEADER = "X-Holder-Consent"


class PartnerConsentRequired(ConsentRequired):
    title = "The holder's signed consent, given in her own city's app, is required"


class ConsentTokenError(ValueError):
    pass


FORMAT = CompactFormat("TBC1", {"v": int, "cid": str, "holder": str, "holder_type": str, "asker": str,
                                "holder_city": str, "purpose": str, "iat": int, "exp": int, "iss": str, "kid": str},
                       ConsentTokenError)


async def issue(session: AsyncSession, holder: Principal, holder_type: str, holder_id: str, our_region: str,
                partner: str, purpose: str, expires_at: dt.datetime, signer_code: str,
                signer_name: str) -> tuple[str, str]:
    """Sign our resident's consent that `partner` (the city holding her licences) may disclose them
    to us; returns (consent id, token). Audited for the holder."""
    key = await signing.platform_key(session, signer_code, signer_name, CONSENT_ACTOR)
    now = clock.now().replace(microsecond=0)
    document = {"v": 1, "cid": secrets.token_urlsafe(16), "holder": holder_id, "holder_type": holder_type,
                "asker": our_region, "holder_city": partner, "purpose": purpose, "iat": int(now.timestamp()),
                "exp": int(expires_at.timestamp()), "iss": signer_code, "kid": key.kid}
    signature = keystore.current().sign(key.kid, key.algorithm, algorithms.canonical(document))
    await audit.record(session, holder, "partner_consent.given", "holder",
                       mask_resident_id(holder_id) if holder_type == "111" else holder_id, reason=purpose,
                       detail={"consent": document["cid"], "partner": partner, "expires_at": expires_at.isoformat()})
    return document["cid"], FORMAT.encode(document, signature)


async def verify(session: AsyncSession, text: str | None, holder_id: str, asker: str | None,
                 our_region: str) -> dict[str, Any]:
    """The consent's claims when `text` was signed by a trusted key of the asking region and names
    this holder, the asking region and us, unexpired; else PartnerConsentRequired saying why."""
    if not text:
        raise PartnerConsentRequired(f"send the holder's consent token in {HEADER}: she gives it in her own "
                                     "city's app")
    try:
        document, signed, signature = FORMAT.decode(text)
    except ConsentTokenError as exc:
        raise PartnerConsentRequired(f"the consent token is malformed: {exc}") from None
    key = await trusted.get_key(session, document["kid"])
    if (key is None or asker is None or key.region_code != asker or key.issuer_code != document["iss"]
            or not algorithms.verify(key.algorithm, key.public_key, signed, signature)):
        raise PartnerConsentRequired("the consent token is not signed by a key of the asking city on our trust list")
    if document["holder"] != holder_id:
        raise PartnerConsentRequired("the consent is another holder's")
    if document["asker"] != asker or document["holder_city"] != our_region:
        raise PartnerConsentRequired("the consent is for other cities")
    if document["exp"] <= int(clock.now().timestamp()):
        raise PartnerConsentRequired("the consent has expired; the holder gives a new one")
    return document
