"""SSLCommerz (cards, Nagad, Rocket, bank wallets through one aggregator): the v4 hosted-page API.

Sources (SSLCommerz developer documentation, v4):
  https://developer.sslcommerz.com/doc/v4/  — session init, IPN, Order Validation API, query, refund
  https://sslcommerz.com/integration-document
What the docs say and we rely on:
  * session: POST {base}/gwprocess/v4/api.php (form) -> {"status": "SUCCESS"|"FAILED", "failedreason",
    "sessionkey", "GatewayPageURL"}; tran_id is at most 30 characters; total_amount is decimal(10,2).
  * the IPN and the success/fail/cancel redirects POST the same fields (status VALID/FAILED/CANCELLED/
    UNATTEMPTED/EXPIRED, tran_id, val_id, amount, currency, bank_tran_id, risk_level, ..., verify_sign,
    verify_key). verify_sign = md5("k1=v1&k2=v2...") over the keys listed in verify_key plus
    store_passwd=md5(store password), sorted by key.
  * "After receiving the IPN message, please call the Order Validation API": GET
    {base}/validator/api/validationserverAPI.php?val_id&store_id&store_passwd&format=json -> status VALID (first
    call) / VALIDATED (later calls) / INVALID_TRANSACTION, tran_id, amount, currency_type, currency_amount,
    bank_tran_id, risk_level; "if risk_level = 1 and transaction status = VALID, then please hold the
    transaction and verify the customer".
  * query by tran_id: GET {base}/validator/api/merchantTransIDvalidationAPI.php?tran_id&... ->
    {"APIConnect": "DONE"|"INVALID_REQUEST"|"FAILED"|"INACTIVE", "no_of_trans_found", "element": [...]}.
  * refund: GET the same merchantTransIDvalidationAPI.php with bank_tran_id, refund_trans_id, refund_amount,
    refund_remarks, refe_id -> {"APIConnect", "status": "success"|"failed"|"processing", "refund_ref_id",
    "errorReason"}.

Trust: nothing posted to us is believed. A posted request only says "go and ask": its signature is a cheap first
filter (SSLCommerz signs every IPN and redirect; an unsigned or forged one costs no gateway call), and then the
gateway is asked server to server — with the signed val_id, or, when the signed request carries none (a cancel, a
fail), by our own tran_id. A request that fails the filter concludes nothing (UNKNOWN), so a forger can neither
credit an attempt nor fail someone else's; the reconciliation job's query() settles what the filter turned away.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

import aiohttp

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

SANDBOX_URL = "https://sandbox.sslcommerz.com"
LIVE_URL = "https://securepay.sslcommerz.com"
SESSION_PATH = "/gwprocess/v4/api.php"
VALIDATION_PATH = "/validator/api/validationserverAPI.php"
MERCHANT_TRANS_PATH = "/validator/api/merchantTransIDvalidationAPI.php"  # query by tran_id, and refunds
MAX_TRAN_ID = 30

_CAPTURED = {"VALID", "VALIDATED"}
_FINAL_FAILED = {"FAILED", "CANCELLED", "EXPIRED"}
_NOT_YET = {"PENDING", "UNATTEMPTED"}


def sign_fields(fields: Mapping[str, str], store_passwd: str) -> str:
    """The IPN's verify_sign for `fields` (the keys in verify_key), as SSLCommerz computes it."""
    data = dict(fields)
    data["store_passwd"] = hashlib.md5(store_passwd.encode()).hexdigest()  # noqa: S324 -- SSLCommerz's scheme
    text = "&".join(f"{key}={data[key]}" for key in sorted(data))
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324


def signed_fields(params: Mapping[str, str], store_passwd: str) -> dict[str, str] | None:
    """The fields SSLCommerz signed in `params`, or None when the request is unsigned or the signature is wrong."""
    sign, keys = params.get("verify_sign") or "", params.get("verify_key") or ""
    if not sign or not keys:
        return None
    listed = [key for key in keys.split(",") if key]
    if any(key not in params for key in listed):
        return None
    fields = {key: str(params[key]) for key in listed}
    return fields if hmac.compare_digest(sign_fields(fields, store_passwd), sign.lower()) else None


class SSLCommerzAdapter:
    kind = "sslcommerz"

    def __init__(self, base_url: str, credentials: Mapping[str, str], mode: str, session: aiohttp.ClientSession,
                 *, timeout: float = DEFAULT_TIMEOUT):
        missing = [key for key in ("store_id", "store_passwd") if not credentials.get(key)]
        if missing:
            raise GatewayError(_("The SSLCommerz gateway is missing %(keys)s: enter them in its settings.",
                                 keys=", ".join(missing)))
        self.base_url = base_url.rstrip("/")
        self.store_id = credentials["store_id"]
        self.store_passwd = credentials["store_passwd"]
        self.mode = mode
        self.session = session
        self.timeout = timeout

    def _auth(self) -> dict[str, str]:
        return {"store_id": self.store_id, "store_passwd": self.store_passwd, "format": "json"}

    def lookup_key(self, params: Mapping[str, str]) -> LookupKey | None:
        tran_id = (params.get("tran_id") or "").strip()
        return LookupKey(reference=tran_id) if tran_id else None

    async def start(self, intent: IntentView, urls: ReturnUrls) -> Started:
        if len(intent.reference) > MAX_TRAN_ID:
            raise GatewayError(_("SSLCommerz accepts a payment reference of at most %(n)s characters.",
                                 n=MAX_TRAN_ID))
        form = {
            "store_id": self.store_id, "store_passwd": self.store_passwd,
            "total_amount": minor_to_text(intent.amount_minor, intent.currency), "currency": intent.currency,
            "tran_id": intent.reference,
            "success_url": urls.success, "fail_url": urls.fail, "cancel_url": urls.cancel,
            # Internet service: nothing is shipped. The customer fields are mandatory in the API but radbill
            # sends the gateway no personal data beyond the masked label; the gateway page asks what it needs.
            "product_name": "Internet service", "product_category": "internet",
            "product_profile": "non-physical-goods", "shipping_method": "NO", "num_of_item": "1",
            "cus_name": intent.customer_label or "Customer", "cus_email": "noreply@example.invalid",
            "cus_add1": "N/A", "cus_city": "N/A", "cus_postcode": "0000", "cus_country": "Bangladesh",
            "cus_phone": "N/A",
            "value_a": str(intent.id),  # echoed back in IPNs: ties a gateway record to our intent id
        }
        if urls.notify:
            form["ipn_url"] = urls.notify
        body, why = await call_json(self.session, "POST", self.base_url + SESSION_PATH, data=form,
                                    deadline=self.timeout)
        if body is None:
            raise GatewayError(_("SSLCommerz could not be reached or did not answer properly. Try again in a few "
                                 "minutes."), detail=why)
        if body.get("status") != "SUCCESS" or not body.get("GatewayPageURL"):
            raise GatewayError(_("SSLCommerz refused the payment: %(reason)s",
                                 reason=str(body.get("failedreason") or body.get("status") or "no reason")[:200]))
        return Started(redirect_url=str(body["GatewayPageURL"]), gateway_payment_id=body.get("sessionkey"))

    async def verify(self, intent: IntentView, params: Mapping[str, str]) -> Verification:
        signed = signed_fields(params, self.store_passwd)
        if signed is None:
            why = "carries no verify_sign" if not params.get("verify_sign") else "has a verify_sign that does not match"
            return Verification(UNKNOWN, reference=params.get("tran_id"), raw=_scrub(params),
                                reason=f"the request {why} (forged, altered or not from SSLCommerz): ignored")
        if signed.get("tran_id") == intent.reference and signed.get("val_id"):
            return await self.validate(intent, signed["val_id"])
        # signed, but without a val_id (fail, cancel) or about another tran_id: ask by our own reference
        return await self.query(intent)

    async def validate(self, intent: IntentView, val_id: str) -> Verification:
        """The Order Validation API's word on `val_id`, held against the intent."""
        params = {"val_id": val_id, **self._auth(), "v": "1"}
        body, why = await call_json(self.session, "GET", self.base_url + VALIDATION_PATH, params=params,
                                    deadline=self.timeout)
        if body is None:
            return Verification(UNKNOWN, reason=why)
        status = str(body.get("status") or "")
        if body.get("APIConnect") not in (None, "DONE"):
            return Verification(UNKNOWN, raw=body, reason=f"validation API answered APIConnect "
                                                          f"{body.get('APIConnect')} (check the store id/password)")
        if status == "INVALID_TRANSACTION":
            # says nothing about this attempt (a val_id the gateway does not know): conclude nothing
            return Verification(UNKNOWN, raw=body, reason="the validation API does not know this val_id")
        return self._judge(intent, body)

    def _judge(self, intent: IntentView, record: Mapping) -> Verification:
        """One transaction record (validation answer or query element) held against the intent."""
        status = str(record.get("status") or "").upper()
        reference = str(record.get("tran_id") or "")
        currency = str(record.get("currency_type") or record.get("currency") or "").upper()
        amount_text = record.get("currency_amount") or record.get("amount")
        amount = text_to_minor(amount_text, intent.currency)
        txn = str(record.get("bank_tran_id") or "") or None  # what a refund names, so the payment's key
        found = {"gateway_txn_id": txn, "amount_minor": amount, "currency": currency or None,
                 "reference": reference or None, "raw": dict(record)}
        if reference != intent.reference:
            return Verification(UNKNOWN, **found, reason=f"the gateway's record is for tran_id {reference!r}, "
                                                         f"not this attempt")
        if status in _CAPTURED:
            if currency != intent.currency.upper():
                return Verification(FAILED, **found, reason=f"currency mismatch: gateway {currency!r}, "
                                                            f"intent {intent.currency}")
            if amount != intent.amount_minor:
                return Verification(FAILED, **found, reason=f"amount mismatch: gateway {amount_text!r}, "
                                                            f"intent {minor_to_text(intent.amount_minor, intent.currency)}")
            if str(record.get("risk_level") or "0") != "0":
                # SSLCommerz: "if risk_level = 1 and status = VALID, hold the transaction and verify the
                # customer". Left PENDING: staff decide (refund it, or confirm it as a verified payment).
                return Verification(PENDING, **found, reason="risk level 1: SSLCommerz asks to hold the payment "
                                                             f"until staff verify the customer "
                                                             f"({record.get('risk_title') or 'risky'})")
            if not txn:
                return Verification(UNKNOWN, **found, reason="a captured payment without a bank_tran_id")
            return Verification(PAID, **found)
        if status in _FINAL_FAILED:
            return Verification(FAILED, **found, reason=f"the gateway says {status}"
                                                        + (f": {record.get('error')}" if record.get("error") else ""))
        if status in _NOT_YET:
            return Verification(PENDING, **found, reason=f"the gateway says {status}")
        return Verification(UNKNOWN, **found, reason=f"unexpected status {status!r}")

    async def query(self, intent: IntentView) -> Verification:
        params = {"tran_id": intent.reference, **self._auth()}
        body, why = await call_json(self.session, "GET", self.base_url + MERCHANT_TRANS_PATH, params=params,
                                    deadline=self.timeout)
        if body is None:
            return Verification(UNKNOWN, reason=why)
        if body.get("APIConnect") != "DONE":
            return Verification(UNKNOWN, raw=body, reason=f"query API answered APIConnect {body.get('APIConnect')}")
        elements = [e for e in body.get("element") or [] if isinstance(e, Mapping)]
        if not elements:
            return Verification(PENDING, raw=body, reason="the gateway has no transaction for this attempt yet")
        verdicts = [self._judge(intent, element) for element in elements]
        # several attempts may sit under one tran_id (a failed card, then a good one): any capture decides
        for wanted in (PAID, PENDING, FAILED):
            for verdict in verdicts:
                if verdict.status == wanted:
                    return verdict
        return verdicts[0]

    async def refund(self, intent: IntentView, gateway_txn_id: str, amount_minor: int, reason: str) -> RefundResult:
        params = {
            **self._auth(), "bank_tran_id": gateway_txn_id,
            "refund_trans_id": "R" + secrets.token_hex(12),  # unique per refund request (mandatory since 2025)
            "refund_amount": minor_to_text(amount_minor, intent.currency),
            "refund_remarks": reason[:255], "refe_id": intent.reference,
        }
        body, why = await call_json(self.session, "GET", self.base_url + MERCHANT_TRANS_PATH, params=params,
                                    deadline=self.timeout)
        if body is None:
            return RefundResult(False, reason=why)
        status = str(body.get("status") or "").lower()
        if body.get("APIConnect") == "DONE" and status in ("success", "processing") and body.get("refund_ref_id"):
            return RefundResult(True, gateway_refund_id=str(body["refund_ref_id"]), amount_minor=amount_minor,
                                reason="" if status == "success" else "processing at the gateway", raw=body)
        return RefundResult(False, raw=body, reason=str(body.get("errorReason") or body.get("APIConnect")
                                                        or "refused"))


def _scrub(params: Mapping[str, str]) -> dict[str, str]:
    """What arrived, kept for the log (card numbers arrive masked already)."""
    return {str(k): str(v)[:300] for k, v in params.items()}
