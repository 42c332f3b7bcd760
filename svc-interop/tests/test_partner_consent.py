"""The asking side's reading of a resident's consent (partner_licence/consent.py): what it refuses
before anything travels to the partner. The signature is the holding city's to check (see
test_partner_wallet.py for a forged one refused there)."""

import base64
import datetime as dt
import json

import pytest
from tongban.interop.partner_licence.consent import PartnerConsentRequired, claims
from tongban.shared import clock
from tongban.shared.ids import resident_id_check_digit

SHENZHEN, ZHONGSHAN = "440300", "442000"
HOLDER = "44030019900101123" + resident_id_check_digit("44030019900101123")
AT = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def token(**changes) -> str:
    document = {"v": 1, "cid": "c-1", "holder": HOLDER, "holder_type": "111", "asker": SHENZHEN,
                "holder_city": ZHONGSHAN, "purpose": "查看", "iat": int(AT.timestamp()),
                "exp": int((AT + dt.timedelta(days=1)).timestamp()), "iss": "x", "kid": "k", **changes}
    payload = base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()
    return f"TBC1.{payload}.c2lnbmF0dXJl"


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.pinned(AT, tick=False):
        yield


def test_a_consent_naming_this_holder_us_and_the_partner_is_carried():
    assert claims(token(), HOLDER, SHENZHEN, ZHONGSHAN)["cid"] == "c-1"
    assert claims(token(holder=HOLDER.lower()), HOLDER, SHENZHEN, ZHONGSHAN)  # an x check character in either case


@pytest.mark.parametrize(("text", "why"), [
    (None, "give your consent in the app first"),
    ("", "give your consent in the app first"),
    ("TBC2.e30.c2ln", "malformed"),
    ("TBC1.not json.c2ln", "malformed"),
    ("TBC1.bm90IGpzb24.c2ln", "malformed"),
    ("TBC1." + base64.urlsafe_b64encode(b"[1]").rstrip(b"=").decode() + ".c2ln", "malformed"),
    (token(exp="tomorrow"), "malformed"),
    (token(holder="44030019851231456X"), "another holder's"),
    (token(asker=ZHONGSHAN), "other cities"),
    (token(holder_city="440100"), "other cities"),
    (token(exp=int(AT.timestamp())), "expired"),
])
def test_what_never_travels_to_the_partner(text, why):
    with pytest.raises(PartnerConsentRequired) as refused:
        claims(text, HOLDER, SHENZHEN, ZHONGSHAN)
    assert why in refused.value.detail and refused.value.status == 403
    assert refused.value.code == "consent_required"
