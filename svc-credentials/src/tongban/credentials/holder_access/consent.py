"""The holder's consent for a partner city (深中通办): a compact token the resident asks for in her
own city's app (`POST /me/partner-consents`), signed by the platform's consent key (an issuer of
ours, published in GET /keys like every other), naming the holder, the partner city, the purpose
and an expiry. The partner city's request carries it (header `X-Holder-Consent`) through
svc-interop; without a good one, a holder's licences are neither listed nor presented.

`TBC1.<base64url RFC 8785 JSON>.<base64url signature>` with claims
`{v, cid, holder, holder_type, partner, purpose, iat, exp, iss, kid}`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.credentials.db import audit
from tongban.credentials.signing import algorithms, keystore
from tongban.credentials.signing import repository as keys
from tongban.credentials.signing import service as signing
from tongban.credentials.signing.token import CompactFormat
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.errors import Forbidden
from tongban.shared.ids import mask_resident_id

CONSENT_ACTOR = "system:partner-consent"
HEADER = "X-Holder-Consent"


class PartnerConsentRequired(Forbidden):
    code, title = "consent_required", "The holder's signed consent for this partner city is required"


class ConsentTokenError(ValueError):
    pass


FORMAT = CompactFormat("TBC1", {"v": int, "cid": str, "holder": str, "holder_type": str, "partner": str,
                                "purpose": str, "iat": int, "exp": int, "iss": str, "kid": str}, ConsentTokenError)


async def issue(session: AsyncSession, holder: Principal, holder_type: str, holder_id: str, partner: str,
                purpose: str, expires_at: dt.datetime, signer_code: str, signer_name: str) -> tuple[str, str]:
    """Sign the holder's consent; returns (consent id, token). Audited for the holder."""
    key = await signing.platform_key(session, signer_code, signer_name, CONSENT_ACTOR)
    now = clock.now().replace(microsecond=0)
    document = {"v": 1, "cid": secrets.token_urlsafe(16), "holder": holder_id, "holder_type": holder_type,
                "partner": partner, "purpose": purpose, "iat": int(now.timestamp()),
                "exp": int(expires_at.timestamp()), "iss": signer_code, "kid": key.kid}
    signature = keystore.current().sign(key.kid, key.algorithm, algorithms.canonical(document))
    await audit.record(session, holder, "partner_consent.given", "holder",
                       mask_resident_id(holder_id) if holder_type == "111" else holder_id, reason=purpose,
                       detail={"consent": document["cid"], "partner": partner, "expires_at": expires_at.isoformat()})
    return document["cid"], FORMAT.encode(document, signature)


async def verify(session: AsyncSession, text: str | None, holder_id: str, partner: str | None,
                 signer_code: str) -> dict[str, Any]:
    """The consent's claims when `text` is a consent signed by our platform's consent key, for
    this holder and this partner city, not expired; else PartnerConsentRequired saying why."""
    if not text:
        raise PartnerConsentRequired(f"send the holder's consent token in {HEADER} (she gives it in her city's app)")
    try:
        document, signed, signature = FORMAT.decode(text)
    except ConsentTokenError as exc:
        raise PartnerConsentRequired(f"the consent token is malformed: {exc}") from None
    key = await keys.get_key(session, document["kid"])
    if (key is None or key.issuer_code != signer_code or document["iss"] != signer_code
            or not algorithms.verify(key.algorithm, key.public_key, signed, signature)):
        raise PartnerConsentRequired("the consent token is not signed by this platform's consent key")
    if document["holder"] != holder_id:
        raise PartnerConsentRequired("the consent is another holder's")
    if partner is None or document["partner"] != partner:
        raise PartnerConsentRequired("the consent is for another partner city")
    if document["exp"] <= int(clock.now().timestamp()):
        raise PartnerConsentRequired("the consent has expired; the holder gives a new one")
    return document
