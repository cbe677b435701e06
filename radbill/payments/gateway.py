"""What every online gateway adapter offers settlement (radbill.payments.settle) — one interface, many gateways.

An adapter speaks one gateway's HTTP API and nothing else: no database, no ledger. Settlement owns the intent, asks
the adapter to start and to verify, and credits only a Verification with status PAID whose amount, currency and
reference match the intent (callbacks, IPNs and redirects are untrusted input: they only say "go and ask").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# Verification.status values
PAID = "paid"          # the gateway says the money is captured, final
PENDING = "pending"    # not final yet (ask again later: the reconciliation job does)
FAILED = "failed"      # final: declined, cancelled by the customer, expired at the gateway
UNKNOWN = "unknown"    # the gateway could not be asked (timeout, 5xx): nothing is concluded


@dataclass(frozen=True, slots=True)
class IntentView:
    """What an adapter may know about a payment intent."""

    id: int
    reference: str            # our merchant reference sent to the gateway (unique, unguessable)
    amount_minor: int
    currency: str             # ISO 4217, e.g. "BDT"
    customer_label: str       # masked username for the gateway page, never the full one
    gateway_payment_id: str | None = None  # the gateway's id for this attempt once created (bKash paymentID, ...)
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReturnUrls:
    success: str
    fail: str
    cancel: str
    notify: str | None = None  # IPN listener, where the gateway has one


@dataclass(frozen=True, slots=True)
class Started:
    redirect_url: str
    gateway_payment_id: str | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    status: str
    gateway_txn_id: str | None = None   # the gateway's final transaction id (bKash trxID, SSLCommerz bank_tran_id/val_id)
    amount_minor: int | None = None
    currency: str | None = None
    reference: str | None = None        # the merchant reference the gateway reports back
    reason: str = ""                    # why not PAID, in plain words (logged)
    raw: Mapping = field(default_factory=dict)  # the gateway's answer, kept for the audit trail


@dataclass(frozen=True, slots=True)
class RefundResult:
    ok: bool
    gateway_refund_id: str | None = None
    amount_minor: int | None = None
    reason: str = ""
    raw: Mapping = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LookupKey:
    """How an incoming callback/IPN/redirect names its attempt (untrusted: it only selects what to verify)."""

    reference: str | None = None            # our merchant reference (SSLCommerz tran_id, Nagad orderId)
    gateway_payment_id: str | None = None   # the gateway's attempt id (bKash paymentID)


class GatewayAdapter(Protocol):
    """Constructed as Adapter(base_url: str, credentials: dict[str, str], mode: "sandbox"|"live",
    session: aiohttp.ClientSession) by radbill.payments.registry; holds no database state (a bKash id_token
    cache keyed by credentials is fine)."""

    kind: str  # "bkash", "sslcommerz", ...

    def lookup_key(self, params: Mapping[str, str]) -> LookupKey | None:
        """Which attempt an incoming request is about, or None when it names none."""

    async def start(self, intent: IntentView, urls: ReturnUrls) -> Started: ...

    async def verify(self, intent: IntentView, params: Mapping[str, str]) -> Verification:
        """Server-to-server check after a callback/IPN/redirect carrying `params` (untrusted)."""

    async def query(self, intent: IntentView) -> Verification:
        """Ask the gateway for the attempt's state with no callback (reconciliation)."""

    async def refund(self, intent: IntentView, gateway_txn_id: str, amount_minor: int, reason: str) -> RefundResult: ...
