"""The resident's consent for the partner city (深中通办), as the resident's city carries it.

The consent is the resident's own act: in her own city's app she agrees (a consent screen naming
the partner city, the purpose and how long), and the app asks our svc-credentials for it
(`POST /api/v1/credentials/me/partner-consents` with her own token), which signs a `TBC1` token.
The app then sends that token with her request here (`X-Holder-Consent`); we carry it inside the
signed exchange body, and the holding city's svc-credentials checks the signature against its
trust list. svc-interop never asks for a consent on her behalf: a platform service that could
mint the resident's consent whenever it wanted to ask would make the consent meaningless.

Here we only read the token's claims, to refuse early what the holding city would refuse anyway
(another holder's, for other cities, expired, malformed) without sending someone's consent to a
partner it does not name. The signature is the holding city's to check (its trust list holds
our consent key); we do not pretend to check it.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from tongban.shared import clock
from tongban.shared.auth import ConsentRequired

HEADER = "X-Holder-Consent"
PREFIX = "TBC1"
SHAPE = re.compile(r"^TBC1\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$")   # the exchange body's `consent`
ASK = (f"give your consent in the app first: POST /api/v1/credentials/me/partner-consents "
       f"(partner, purpose, expires_at), then send its token in {HEADER}")


class PartnerConsentRequired(ConsentRequired):
    title = "Your consent for the partner city, given in this city's app, is required"


def claims(token: str | None, holder_id: str, our_region: str, partner: str) -> dict[str, Any]:
    """The consent's claims when it names this holder, us as the asking city and `partner` as the
    city holding her licences, and has not expired; else PartnerConsentRequired saying why."""
    if not token:
        raise PartnerConsentRequired(ASK)
    try:
        if len(token) > 4000 or not SHAPE.match(token):
            raise ValueError
        parts = token.split(".")
        document = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        holder, asker, city, exp = (document["holder"], document["asker"], document["holder_city"],
                                    document["exp"])
        if not all(isinstance(v, str) for v in (holder, asker, city)) or type(exp) is not int:
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise PartnerConsentRequired(f"the consent token is malformed; {ASK}") from None
    if holder.upper() != holder_id.upper():
        raise PartnerConsentRequired("the consent is another holder's")
    if asker != our_region or city != partner:
        raise PartnerConsentRequired(f"the consent is for other cities; {ASK}")
    if exp <= int(clock.now().timestamp()):
        raise PartnerConsentRequired(f"the consent has expired; {ASK}")
    return document
