"""bKash Tokenized Checkout (without agreement, mode 0011): grant/refresh token, create, execute, query, refund.

The customer is sent to `bkashURL`; bKash then redirects the browser to our callbackURL with
`?paymentID=...&status=success|failure|cancel`. That redirect is untrusted: only execute (or the payment status query)
answering statusCode "0000" and transactionStatus "Completed" proves the money was captured, and the amount,
currency and merchantInvoiceNumber it reports are what settlement compares with the intent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import aiohttp

from radbill.errors import RadbillError
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

OK = "0000"
COMPLETED = "Completed"
# bKash asks merchants to wait up to 30 s for any API; tests lower it to exercise a timeout quickly
DEFAULT_TIMEOUT = 30.0
# (base_url, app_key, username) -> (id_token, refresh_token, expires at, monotonic): one grant serves every request
_TOKENS: dict[tuple[str, str, str], tuple[str, str, float]] = {}


class BkashError(RadbillError):
    """bKash refused or did not answer a request that has no 'unknown' outcome (starting a payment)."""


def amount_text(amount_minor: int) -> str:
    """bKash wants a decimal string with two places: 50000 -> "500.00"."""
    return f"{amount_minor // 100}.{amount_minor % 100:02d}"


def amount_minor_of(text: object) -> int | None:
    """"500.00" (or "500", or 500) -> 50000; None for anything that is not a whole number of poisha."""
    try:
        value = Decimal(str(text)) * 100
    except (InvalidOperation, ValueError):
        return None
    return int(value) if value == value.to_integral_value() else None


class BkashAdapter:
    kind = "bkash"

    def __init__(self, base_url: str, credentials: Mapping[str, str], mode: str, session: aiohttp.ClientSession,
                 timeout: float | None = None):
        missing = [k for k in ("username", "password", "app_key", "app_secret") if not credentials.get(k)]
        if missing:
            raise RadbillError(f"the bKash gateway needs these credentials: {', '.join(missing)}")
        self.base_url = base_url.rstrip("/")
        self.credentials = dict(credentials)
        self.mode = mode
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=DEFAULT_TIMEOUT if timeout is None else timeout)

    # --- tokens -------------------------------------------------------------------------------------------------
    def _cache_key(self) -> tuple[str, str, str]:
        return (self.base_url, self.credentials["app_key"], self.credentials["username"])

    async def _post(self, path: str, body: dict, headers: dict) -> tuple[int, dict]:
        async with self.session.post(self.base_url + path, json=body, timeout=self.timeout,
                                     headers={"Accept": "application/json", **headers}) as resp:
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = {}
            return resp.status, data if isinstance(data, dict) else {}

    async def _grant(self, refresh_token: str | None = None) -> str:
        c = self.credentials
        body = {"app_key": c["app_key"], "app_secret": c["app_secret"]}
        path = "/tokenized/checkout/token/grant"
        if refresh_token:
            body["refresh_token"], path = refresh_token, "/tokenized/checkout/token/refresh"
        status, data = await self._post(path, body, {"username": c["username"], "password": c["password"]})
        if status != 200 or not data.get("id_token"):
            if refresh_token:  # an expired refresh token: start over with a fresh grant
                return await self._grant()
            raise BkashError(f"bKash refused the merchant credentials ({data.get('statusMessage') or status}):"
                             " check the gateway settings")
        expires = time.monotonic() + float(data.get("expires_in") or 3600) - 60
        _TOKENS[self._cache_key()] = (data["id_token"], data.get("refresh_token") or "", expires)
        return data["id_token"]

    async def _token(self) -> str:
        cached = _TOKENS.get(self._cache_key())
        if cached and cached[2] > time.monotonic():
            return cached[0]
        return await self._grant(cached[1] if cached else None)

    async def _api(self, path: str, body: dict) -> dict:
        """A tokenized-checkout call with the id_token; one new grant and retry when bKash says it is stale."""
        for attempt in (1, 2):
            token = await self._token()
            status, data = await self._post(path, body, {"Authorization": token,
                                                         "X-APP-Key": self.credentials["app_key"]})
            if status == 401 and attempt == 1:
                _TOKENS.pop(self._cache_key(), None)
                continue
            if status >= 500:
                raise aiohttp.ClientResponseError(None, (), status=status, message=str(data)[:200])
            return data
        return data

    # --- the adapter interface ----------------------------------------------------------------------------------
    def lookup_key(self, params: Mapping[str, str]) -> LookupKey | None:
        payment_id = (params.get("paymentID") or "").strip()
        return LookupKey(gateway_payment_id=payment_id) if payment_id else None

    async def start(self, intent: IntentView, urls: ReturnUrls) -> Started:
        body = {"mode": "0011", "payerReference": intent.customer_label or " ", "callbackURL": urls.success,
                "amount": amount_text(intent.amount_minor), "currency": intent.currency, "intent": "sale",
                "merchantInvoiceNumber": intent.reference}
        try:
            data = await self._api("/tokenized/checkout/create", body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise BkashError("bKash did not answer: try again in a minute") from exc
        if data.get("statusCode") != OK or not data.get("bkashURL") or not data.get("paymentID"):
            raise BkashError(f"bKash could not start the payment ({data.get('statusMessage') or 'no answer'}):"
                             " try again in a minute")
        return Started(data["bkashURL"], data["paymentID"])

    def _verification(self, data: dict, reason: str = "") -> Verification:
        """A bKash answer (execute or status query) as a Verification; PAID only for Completed with 0000."""
        raw = {k: v for k, v in data.items() if k not in ("id_token", "refresh_token")}
        state = data.get("transactionStatus")
        if data.get("statusCode") == OK and state == COMPLETED:
            return Verification(PAID, data.get("trxID"), amount_minor_of(data.get("amount")), data.get("currency"),
                                data.get("merchantInvoiceNumber"), raw=raw)
        if state is None:  # an error answer says nothing about the payment itself
            return Verification(UNKNOWN, reason=reason or f"bKash answered {data.get('statusCode')}:"
                                f" {data.get('statusMessage') or 'nothing'}", raw=raw)
        if state in ("Initiated", "Inprogress", "Pending Authorized", "Authorized"):
            return Verification(PENDING, reason=reason or f"bKash reports {state}", raw=raw)
        return Verification(FAILED, reason=reason or f"bKash reports {state or data.get('statusMessage')}",
                            raw=raw)

    async def _execute(self, payment_id: str) -> dict:
        return await self._api("/tokenized/checkout/execute", {"paymentID": payment_id})

    async def _status(self, payment_id: str) -> dict:
        return await self._api("/tokenized/checkout/payment/status", {"paymentID": payment_id})

    async def verify(self, intent: IntentView, params: Mapping[str, str]) -> Verification:
        payment_id = intent.gateway_payment_id
        if not payment_id or params.get("paymentID") != payment_id:
            return Verification(FAILED, reason="the callback names another bKash payment")
        try:
            if params.get("status") == "success":
                executed = await self._execute(payment_id)
                if executed.get("statusCode") == OK and executed.get("transactionStatus") == COMPLETED:
                    return self._verification(executed)
            # already executed by a concurrent callback, a cancel/failure redirect, or execute refused: ask
            state = await self._status(payment_id)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Verification(UNKNOWN, reason=f"bKash did not answer ({type(exc).__name__})")
        v = self._verification(state)
        if v.status == PENDING and params.get("status") in ("cancel", "failure"):
            word = "cancelled by the customer" if params.get("status") == "cancel" else "failed at bKash"
            return Verification(FAILED, reason=word, raw=v.raw)
        return v

    async def query(self, intent: IntentView) -> Verification:
        payment_id = intent.gateway_payment_id
        if not payment_id:
            return Verification(FAILED, reason="the payment was never created at bKash")
        try:
            state = await self._status(payment_id)
            if state.get("transactionStatus") == "Initiated":
                # The customer may have authorised it while the callback was lost (browser closed, we were down):
                # execute completes exactly such a payment and is refused harmlessly for one never authorised.
                executed = await self._execute(payment_id)
                if executed.get("transactionStatus") == COMPLETED:
                    return self._verification(executed)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Verification(UNKNOWN, reason=f"bKash did not answer ({type(exc).__name__})")
        return self._verification(state)

    async def refund(self, intent: IntentView, gateway_txn_id: str, amount_minor: int, reason: str) -> RefundResult:
        body = {"paymentID": intent.gateway_payment_id, "trxID": gateway_txn_id, "amount": amount_text(amount_minor),
                "sku": "radbill", "reason": reason[:255]}
        try:
            data = await self._api("/tokenized/checkout/payment/refund", body)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return RefundResult(False, reason=f"bKash did not answer ({type(exc).__name__}): check before retrying")
        if data.get("transactionStatus") == COMPLETED and data.get("refundTrxID"):
            return RefundResult(True, data["refundTrxID"], amount_minor_of(data.get("amount")), raw=data)
        return RefundResult(False, reason=str(data.get("statusMessage") or data.get("errorMessage") or "refused"),
                            raw=data)
