"""Payment providers behind one interface, each adapter shaped like the real one's notifications.

- WeChat Pay v3: JSON body with an AES-256-GCM encrypted `resource` (key: the merchant's APIv3 key,
  associated data and nonce in the body); headers `Wechatpay-Timestamp`, `Wechatpay-Nonce`,
  `Wechatpay-Serial`, `Wechatpay-Signature` = base64(RSA-SHA256 PKCS#1 v1.5 over
  "{timestamp}\\n{nonce}\\n{body}\\n") with the platform's key.
- Alipay: form fields signed RSA2 (`sign_type=RSA2`): base64(RSA-SHA256) over the other fields but
  `sign`/`sign_type`, sorted, joined "k=v&k=v".
- UnionPay (全渠道 5.1.0, signMethod 01): base64(RSA-SHA256 over the lowercase hex SHA-256 of the
  sorted "k=v&..." string of every field but `signature`).

Every answer the platform acts on is verified here first: callbacks, and the answers of the query
and refund calls (the local provider signs those in the same format as its callbacks). `verify`
returns a Notice or raises CallbackRefused; nothing upstream ever reads an unverified field.
A Notice's `digest` (SHA-256 of the signed message) is what a replay repeats: the payment service
keeps the digests it applied and refuses the same signed message twice.

Both halves of each format live here: `verify` for svc-cases, `sign_*` for the local provider
(payment/simulator.py), so the two can never drift apart.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tongban.cases.payment.errors import CallbackRefused
from tongban.shared import clock

FRESHNESS = dt.timedelta(minutes=5)      # WeChat's own guidance for Wechatpay-Timestamp
BEIJING = dt.timezone(dt.timedelta(hours=8))
PROVIDERS = ("wechat", "alipay", "unionpay")


@dataclass(frozen=True)
class Notice:
    """What a verified provider message says about one order."""

    provider: str
    kind: str                    # paid | refunded | unpaid
    notification_id: str
    digest: str                  # SHA-256 of the signed message: the same message again is a replay
    merchant: str
    order_number: str
    transaction_id: str | None
    amount_fen: int
    at: dt.datetime | None


class Provider(Protocol):
    name: str
    merchant: str

    def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """The notice if the message's signature, freshness and shape hold; else CallbackRefused."""
        ...

    def acknowledgement(self) -> tuple[int, bytes, str]:
        """What the provider expects back from a callback it may stop re-sending."""
        ...


def public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("a payment provider's key must be RSA")
    return key


def _rsa_verify(key: rsa.RSAPublicKey, signature_b64: str, message: bytes) -> None:
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError) as exc:
        raise CallbackRefused("bad_signature", "the provider's signature does not hold", 401) from exc


def _rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def _fresh(at: dt.datetime, what: str) -> None:
    if abs(clock.now() - at) > FRESHNESS:
        raise CallbackRefused("stale", f"{what} is outside the {int(FRESHNESS.total_seconds() / 60)}-minute window: "
                                       "a replayed notification")


def _fen(yuan: str) -> int:
    whole, _, cents = yuan.partition(".")
    if not whole.isdigit() or not (cents.isdigit() or cents == "") or len(cents) > 2:
        raise CallbackRefused("malformed", f"amount {yuan[:20]!r} is not yuan with two decimals")
    return int(whole) * 100 + int((cents + "00")[:2])


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.lower())
    if not value:
        raise CallbackRefused("bad_signature", f"header {name} is missing", 401)
    return value


# --- WeChat Pay v3 --------------------------------------------------------------------------------

class WeChatPay:
    name = "wechat"

    def __init__(self, mchid: str, apiv3_key: str, platform_key_pem: str, serial: str) -> None:
        self.merchant, self.serial = mchid, serial
        self._key = apiv3_key.encode()
        self._platform = public_key(platform_key_pem)

    def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        timestamp, nonce = _header(headers, "Wechatpay-Timestamp"), _header(headers, "Wechatpay-Nonce")
        signature = _header(headers, "Wechatpay-Signature")
        if _header(headers, "Wechatpay-Serial") != self.serial:
            raise CallbackRefused("bad_signature", "signed with a platform certificate we do not hold", 401)
        message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
        _rsa_verify(self._platform, signature, message)
        if not timestamp.isdigit():
            raise CallbackRefused("malformed", "Wechatpay-Timestamp is not a number")
        try:
            sent = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise CallbackRefused("malformed", "Wechatpay-Timestamp is out of range") from exc
        _fresh(sent, "Wechatpay-Timestamp")
        try:
            envelope = json.loads(body)
            res = envelope["resource"]
            plain = AESGCM(self._key).decrypt(res["nonce"].encode(),
                                              base64.b64decode(res["ciphertext"]), res["associated_data"].encode())
            data = json.loads(plain)
            event_type = envelope["event_type"]
            kind = {"TRANSACTION.SUCCESS": "paid", "REFUND.SUCCESS": "refunded", "TRANSACTION.NOTPAY": "unpaid"}[
                event_type]
            amount = data["amount"]["refund" if kind == "refunded" else "total"]
            at_text = data.get("success_time")
            return Notice(self.name, kind, str(envelope["id"]), hashlib.sha256(message).hexdigest(), str(data["mchid"]),
                          str(data["out_trade_no"]), data.get("transaction_id"), int(amount),
                          dt.datetime.fromisoformat(at_text) if at_text else None)
        except InvalidTag as exc:
            raise CallbackRefused("bad_signature", "the resource does not decrypt with our APIv3 key", 401) from exc
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise CallbackRefused("malformed", f"not a WeChat Pay notification: {type(exc).__name__}") from exc

    def acknowledgement(self) -> tuple[int, bytes, str]:
        return 204, b"", "application/json"


def sign_wechat(private: rsa.RSAPrivateKey, apiv3_key: str, serial: str, event_type: str,
                resource: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """The local provider's side: a WeChat Pay v3 notification (headers, body) of `resource`."""
    nonce = os.urandom(6).hex()
    associated = "refund" if event_type.startswith("REFUND") else "transaction"
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), json.dumps(resource).encode(), associated.encode())
    now = clock.now()
    body = json.dumps({"id": os.urandom(16).hex(), "create_time": now.astimezone(BEIJING).isoformat(timespec="seconds"),
                       "event_type": event_type, "resource_type": "encrypt-resource", "summary": event_type,
                       "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(ciphertext).decode(),
                                    "associated_data": associated, "original_type": associated, "nonce": nonce}}
                      ).encode()
    ts, header_nonce = str(int(now.timestamp())), os.urandom(16).hex()
    signature = _rsa_sign(private, f"{ts}\n{header_nonce}\n".encode() + body + b"\n")
    return {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": header_nonce, "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial, "Content-Type": "application/json"}, body


# --- Alipay (RSA2) ----------------------------------------------------------------------------------

def _alipay_content(fields: Mapping[str, str]) -> bytes:
    return "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k not in ("sign", "sign_type") and fields[k] != ""
                    ).encode()


class Alipay:
    name = "alipay"

    def __init__(self, app_id: str, seller_id: str, alipay_key_pem: str) -> None:
        self.app_id, self.merchant = app_id, seller_id
        self._alipay = public_key(alipay_key_pem)

    def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        try:
            pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise CallbackRefused("malformed", "not a form-encoded Alipay notification") from exc
        fields = dict(pairs)
        if fields.get("sign_type") != "RSA2" or "sign" not in fields:
            raise CallbackRefused("bad_signature", "only RSA2-signed notifications are taken", 401)
        content = _alipay_content(fields)
        _rsa_verify(self._alipay, fields["sign"], content)
        try:
            if fields["app_id"] != self.app_id:
                raise CallbackRefused("wrong_merchant", "the notification is for another app")
            sent = dt.datetime.strptime(fields["notify_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
            _fresh(sent, "notify_time")
            status = fields["trade_status"]
            if status == "TRADE_SUCCESS":
                kind, amount = "paid", _fen(fields["total_amount"])
            elif status == "TRADE_CLOSED" and fields.get("refund_fee"):
                kind, amount = "refunded", _fen(fields["refund_fee"])
            elif status == "WAIT_BUYER_PAY":
                kind, amount = "unpaid", _fen(fields["total_amount"])
            else:
                raise CallbackRefused("malformed", f"trade_status {status[:30]!r} is not handled")
            paid = fields.get("gmt_payment")
            return Notice(self.name, kind, fields["notify_id"], hashlib.sha256(content).hexdigest(), fields["seller_id"],
                          fields["out_trade_no"], fields.get("trade_no"), amount,
                          dt.datetime.strptime(paid, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING) if paid else None)
        except (KeyError, ValueError) as exc:
            raise CallbackRefused("malformed", f"not an Alipay notification: {type(exc).__name__}") from exc

    def acknowledgement(self) -> tuple[int, bytes, str]:
        return 200, b"success", "text/plain"


def sign_alipay(private: rsa.RSAPrivateKey, fields: dict[str, str]) -> bytes:
    """The local provider's side: the form body of an Alipay notification of `fields`."""
    fields = {**fields, "notify_time": clock.now().astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
              "notify_type": "trade_status_sync", "notify_id": fields.get("notify_id") or os.urandom(16).hex(),
              "charset": "utf-8", "version": "1.0", "sign_type": "RSA2"}
    fields["sign"] = _rsa_sign(private, _alipay_content(fields))
    return urllib.parse.urlencode(fields).encode()


# --- UnionPay (全渠道 5.1.0, signMethod 01) ---------------------------------------------------------

def _unionpay_digest(fields: Mapping[str, str]) -> bytes:
    data = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "signature").encode()
    return hashlib.sha256(data).hexdigest().encode()


class UnionPay:
    name = "unionpay"

    def __init__(self, mer_id: str, cert_id: str, unionpay_key_pem: str) -> None:
        self.merchant, self.cert_id = mer_id, cert_id
        self._unionpay = public_key(unionpay_key_pem)

    def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        try:
            fields = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CallbackRefused("malformed", "not a form-encoded UnionPay notification") from exc
        if fields.get("signMethod") != "01" or "signature" not in fields:
            raise CallbackRefused("bad_signature", "only RSA-signed (signMethod 01) notifications are taken", 401)
        if fields.get("certId") != self.cert_id:
            raise CallbackRefused("bad_signature", "signed with a certificate we do not hold", 401)
        digest = _unionpay_digest(fields)
        _rsa_verify(self._unionpay, fields["signature"], digest)
        try:
            if fields["respCode"] not in ("00", "A6"):
                kind = "unpaid"
            else:
                kind = {"01": "paid", "04": "refunded"}[fields["txnType"]]
            sent = dt.datetime.strptime(fields["traceTime"], "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
            _fresh(sent, "traceTime")
            return Notice(self.name, kind, fields["queryId"], digest.decode(), fields["merId"],
                          fields["orderId"], fields["queryId"], int(fields["txnAmt"]), sent if kind != "unpaid" else None)
        except (KeyError, ValueError) as exc:
            raise CallbackRefused("malformed", f"not a UnionPay notification: {type(exc).__name__}") from exc

    def acknowledgement(self) -> tuple[int, bytes, str]:
        return 200, b"ok", "text/plain"


def sign_unionpay(private: rsa.RSAPrivateKey, cert_id: str, fields: dict[str, str]) -> bytes:
    """The local provider's side: the form body of a UnionPay notification of `fields`. (The real
    traceTime is MMDDhhmmss; the local provider sends the full year so freshness can be checked.)"""
    fields = {**fields, "version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "certId": cert_id,
              "currencyCode": "156", "traceTime": clock.now().astimezone(BEIJING).strftime("%Y%m%d%H%M%S"),
              "traceNo": os.urandom(3).hex()}
    fields["signature"] = _rsa_sign(private, _unionpay_digest(fields))
    return urllib.parse.urlencode(fields).encode()


def from_config(config: Mapping[str, Any]) -> dict[str, Provider]:
    """The adapters a provider configuration names (payment/config.py)."""
    found: dict[str, Provider] = {}
    if (w := config.get("wechat")) is not None:
        found["wechat"] = WeChatPay(w["mchid"], w["apiv3_key"], w["public_key_pem"], w["serial"])
    if (a := config.get("alipay")) is not None:
        found["alipay"] = Alipay(a["app_id"], a["seller_id"], a["public_key_pem"])
    if (u := config.get("unionpay")) is not None:
        found["unionpay"] = UnionPay(u["mer_id"], u["cert_id"], u["public_key_pem"])
    return found
