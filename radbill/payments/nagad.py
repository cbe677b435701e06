"""Nagad direct checkout ("Nagad Online Payment API", remote payment gateway v-0.2.0).

Sources: Nagad's merchant integration sample (PHP, "Copyright 2019 Nagad", index.php / helper.php /
merchant-callback-website.php, as shipped to merchants and republished in public integrations, e.g.
github.com/raselrana1147/eunion_trade app/Helpers/) and https://nagad.com.bd/merchant/ . The flow:
  1. initialize: POST {base}/check-out/initialize/{merchantId}/{orderId} with JSON {accountNumber, dateTime,
     sensitiveData, signature}; sensitiveData = base64(RSA PKCS#1 v1.5 encryption with NAGAD's public key of the
     JSON {merchantId, datetime, orderId, challenge}); signature = base64(RSA-SHA256 PKCS#1 v1.5 signature of that
     JSON with the MERCHANT's private key). Headers X-KM-Api-Version: v-0.2.0, X-KM-IP-V4, X-KM-Client-Type.
     The answer's sensitiveData is encrypted with the merchant's public key: {paymentReferenceId, challenge,
     acceptDateTime}, and its signature is Nagad's over that plaintext (we check it: the sample does not).
  2. complete: POST {base}/check-out/complete/{paymentReferenceId} with sensitiveData {merchantId, orderId,
     currencyCode "050" (BDT), amount "500.00", challenge (Nagad's)}, signature, merchantCallbackURL,
     additionalMerchantInfo -> {"status": "Success", "callBackUrl": <Nagad's payment page>}.
  3. Nagad sends the customer's browser back to merchantCallbackURL?merchant=&order_id=&payment_ref_id=&status=
     &status_code=&message=&payment_dt=&issuer_payment_ref= — unsigned, so it only says "go and ask".
  4. verify: GET {base}/verify/payment/{paymentReferenceId} -> {merchantId, orderId, paymentRefId, amount,
     issuerPaymentRefNo, status: Success | OrderInitiated | Ready | InProgress | Cancelled | Aborted | Failed |
     ..., statusCode}.
Nagad settles only BDT. Refunds are made from the Nagad merchant portal (no refund call here).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import secrets
from collections.abc import Mapping
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp
from Crypto.Cipher import PKCS1_v1_5 as PKCS1_cipher
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15

from radbill import clock
from radbill.i18n import _
from radbill.payments.gateway import (
    FAILED,
    PAID,
    PENDING,
    UNKNOWN,
    IntentView,
    LookupKey,
    RefundResult,
    ReturnUrls,
    Started,
    Verification,
)
from radbill.payments.wire import DEFAULT_TIMEOUT, GatewayError, call_json, minor_to_text, text_to_minor

SANDBOX_URL = "http://sandbox.mynagad.com:10080/remote-payment-gateway-1.0/api/dfs"
LIVE_URL = "https://api.mynagad.com/api/dfs"
API_VERSION = "v-0.2.0"
BDT_CODE = "050"  # ISO 4217 numeric
DHAKA = ZoneInfo("Asia/Dhaka")  # Nagad's dateTime is local Bangladesh time, YYYYMMDDHHMMSS

_NOT_YET = {"OrderInitiated", "Ready", "InProgress"}
_FINAL_FAILED = {"Cancelled", "Aborted", "Failed", "Fraud", "UnKnownFailed", "Rejected", "InvalidRequest",
                 "Expired"}


# ---- the RSA envelope both sides use (the fake gateway imports these) ----------------------------------------
@functools.lru_cache(maxsize=32)
def load_key(text: str) -> RSA.RsaKey:
    """An RSA key from PEM, or from the bare base64 body Nagad hands out (no BEGIN/END lines).

    Cached: importing a private key checks it (~0.1 s with pycryptodome), and the registry builds an adapter per
    request; the text is the operator's own key, already held by whoever calls."""
    text = (text or "").strip()
    if "-----BEGIN" in text:
        return RSA.import_key(text)
    return RSA.import_key(base64.b64decode("".join(text.split()), validate=True))


def seal_for(public: RSA.RsaKey, plaintext: str) -> str:
    return base64.b64encode(PKCS1_cipher.new(public).encrypt(plaintext.encode())).decode()


def unseal(private: RSA.RsaKey, sealed: str) -> str | None:
    """The plaintext, or None when it was not sealed for this key (PKCS#1 v1.5: a sentinel, no oracle)."""
    failed = secrets.token_bytes(16)  # pycryptodome returns this random sentinel (bytes) when padding is wrong
    try:
        raw = base64.b64decode(sealed or "", validate=True)
        plain = PKCS1_cipher.new(private).decrypt(raw, failed)
    except (ValueError, binascii.Error, TypeError):
        return None
    if not plain or plain == failed:
        return None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        return None


def sign(private: RSA.RsaKey, plaintext: str) -> str:
    return base64.b64encode(pkcs1_15.new(private).sign(SHA256.new(plaintext.encode()))).decode()


def signature_ok(public: RSA.RsaKey, plaintext: str, signature: str) -> bool:
    try:
        pkcs1_15.new(public).verify(SHA256.new(plaintext.encode()), base64.b64decode(signature or "", validate=True))
    except (ValueError, binascii.Error, TypeError):
        return False
    return True


class NagadAdapter:
    kind = "nagad"

    def __init__(self, base_url: str, credentials: Mapping[str, str], mode: str, session: aiohttp.ClientSession,
                 *, timeout: float = DEFAULT_TIMEOUT):
        missing = [k for k in ("merchant_id", "merchant_private_key", "nagad_public_key") if not credentials.get(k)]
        if missing:
            raise GatewayError(_("The Nagad gateway is missing %(keys)s: enter them in its settings.",
                                 keys=", ".join(missing)))
        try:
            self.private_key = load_key(credentials["merchant_private_key"])
            self.nagad_key = load_key(credentials["nagad_public_key"])
        except (ValueError, IndexError, TypeError, binascii.Error):
            raise GatewayError(_("A Nagad key in the gateway settings is not an RSA key: paste it as PEM or as "
                                 "the base64 text Nagad sent.")) from None
        if not self.private_key.has_private():
            raise GatewayError(_("The Nagad merchant private key is a public key: paste the private one."))
        self.base_url = base_url.rstrip("/")
        self.merchant_id = credentials["merchant_id"]
        self.merchant_number = credentials.get("merchant_number", "")
        # Nagad wants the customer's IP in X-KM-IP-V4; radbill starts the payment server side, so it sends this.
        self.client_ip = credentials.get("client_ip", "127.0.0.1")
        self.mode = mode
        self.session = session
        self.timeout = timeout

    def _headers(self) -> dict[str, str]:
        return {"X-KM-Api-Version": API_VERSION, "X-KM-IP-V4": self.client_ip, "X-KM-Client-Type": "PC_WEB",
                "Content-Type": "application/json"}

    def _envelope(self, payload: Mapping[str, str]) -> dict[str, str]:
        text = json.dumps(payload, separators=(",", ":"))
        return {"sensitiveData": seal_for(self.nagad_key, text), "signature": sign(self.private_key, text)}

    def lookup_key(self, params: Mapping[str, str]) -> LookupKey | None:
        order_id = (params.get("order_id") or params.get("orderId") or "").strip()
        ref = (params.get("payment_ref_id") or params.get("paymentRefId") or "").strip()
        if not order_id and not ref:
            return None
        return LookupKey(reference=order_id or None, gateway_payment_id=ref or None)

    async def start(self, intent: IntentView, urls: ReturnUrls) -> Started:
        if intent.currency.upper() != "BDT":
            raise GatewayError(_("Nagad takes payments in BDT only."))
        order_id = quote(intent.reference, safe="")
        now = clock.now().astimezone(DHAKA).strftime("%Y%m%d%H%M%S")
        init = {"merchantId": self.merchant_id, "datetime": now, "orderId": intent.reference,
                "challenge": secrets.token_hex(20)}
        body, why = await call_json(
            self.session, "POST", f"{self.base_url}/check-out/initialize/{quote(self.merchant_id)}/{order_id}",
            params={"locale": "EN"}, headers=self._headers(), deadline=self.timeout,
            json_body={"accountNumber": self.merchant_number, "dateTime": now, **self._envelope(init)})
        accepted = self._opened(body)
        if accepted is None:
            raise _refusal(body, why)
        ref, challenge = accepted.get("paymentReferenceId"), accepted.get("challenge")
        if not ref or not challenge:
            raise GatewayError(_("Nagad did not start the payment. Try again in a few minutes."))
        order = {"merchantId": self.merchant_id, "orderId": intent.reference, "currencyCode": BDT_CODE,
                 "amount": minor_to_text(intent.amount_minor, "BDT"), "challenge": challenge}
        body, why = await call_json(
            self.session, "POST", f"{self.base_url}/check-out/complete/{quote(str(ref), safe='')}",
            headers=self._headers(), deadline=self.timeout,
            json_body={**self._envelope(order), "merchantCallbackURL": urls.success,
                       "additionalMerchantInfo": {"intent": str(intent.id)}})
        if body is None or body.get("status") != "Success" or not body.get("callBackUrl"):
            raise _refusal(body, why)
        return Started(redirect_url=str(body["callBackUrl"]), gateway_payment_id=str(ref))

    def _opened(self, body: dict | None) -> dict | None:
        """The initialize answer's sensitiveData, opened with our key and checked against Nagad's signature."""
        if body is None or not body.get("sensitiveData"):
            return None
        plain = unseal(self.private_key, str(body["sensitiveData"]))
        if plain is None or not signature_ok(self.nagad_key, plain, str(body.get("signature") or "")):
            raise GatewayError(_("Nagad's answer is not signed by Nagad's key: check the Nagad public key in the "
                                 "gateway settings."))
        try:
            opened = json.loads(plain)
        except ValueError:
            return None
        return opened if isinstance(opened, dict) else None

    async def verify(self, intent: IntentView, params: Mapping[str, str]) -> Verification:
        # The callback is unsigned: the attempt id we stored at start() wins over the one in the URL; a URL's id is
        # used only when we stored none, and then the answer must still name this intent's orderId.
        ref = intent.gateway_payment_id or (params.get("payment_ref_id") or "").strip()
        if not ref:
            return Verification(UNKNOWN, reason="no Nagad payment reference to ask about")
        return await self._verify_ref(intent, ref)

    async def query(self, intent: IntentView) -> Verification:
        if not intent.gateway_payment_id:
            return Verification(UNKNOWN, reason="no Nagad payment reference recorded for this attempt: nothing to ask")
        return await self._verify_ref(intent, intent.gateway_payment_id)

    async def _verify_ref(self, intent: IntentView, ref: str) -> Verification:
        body, why = await call_json(self.session, "GET", f"{self.base_url}/verify/payment/{quote(ref, safe='')}",
                                    headers=self._headers(), deadline=self.timeout)
        if body is None:
            return Verification(UNKNOWN, reason=why)
        return self._judge(intent, body)

    def _judge(self, intent: IntentView, record: Mapping) -> Verification:
        status = str(record.get("status") or "")
        amount = text_to_minor(record.get("amount"), "BDT")
        txn = str(record.get("issuerPaymentRefNo") or "") or None
        found = {"gateway_txn_id": txn, "amount_minor": amount, "currency": "BDT",
                 "reference": str(record.get("orderId") or "") or None, "raw": dict(record)}
        if record.get("orderId") != intent.reference or str(record.get("merchantId")) != self.merchant_id:
            return Verification(UNKNOWN, **found, reason=f"Nagad's record is for order {record.get('orderId')!r} of "
                                                         f"merchant {record.get('merchantId')!r}, not this attempt"
                                                         + (f" ({record.get('reason')})" if record.get("reason") else ""))
        if status == "Success":
            if intent.currency.upper() != "BDT":
                return Verification(FAILED, **found, reason=f"currency mismatch: Nagad pays BDT, intent {intent.currency}")
            if amount != intent.amount_minor:
                return Verification(FAILED, **found, reason=f"amount mismatch: Nagad {record.get('amount')!r}, "
                                                            f"intent {minor_to_text(intent.amount_minor, 'BDT')}")
            if not txn:
                return Verification(UNKNOWN, **found, reason="a successful payment without issuerPaymentRefNo")
            return Verification(PAID, **found)
        if status in _NOT_YET:
            return Verification(PENDING, **found, reason=f"Nagad says {status}")
        if status in _FINAL_FAILED:
            return Verification(FAILED, **found, reason=f"Nagad says {status}")
        return Verification(UNKNOWN, **found, reason=f"unexpected Nagad status {status!r}")

    async def refund(self, intent: IntentView, gateway_txn_id: str, amount_minor: int, reason: str) -> RefundResult:
        return RefundResult(False, reason="Nagad direct checkout refunds are made in the Nagad merchant portal; "
                                          "record the refund in radbill after it is done there")


def _refusal(body: dict | None, why: str) -> GatewayError:
    if body is None:
        return GatewayError(_("Nagad could not be reached or did not answer properly. Try again in a few minutes."),
                            detail=why)
    said = str(body.get("message") or body.get("reason") or body.get("status") or "no reason")[:200]
    return GatewayError(_("Nagad refused the payment: %(reason)s", reason=said))
