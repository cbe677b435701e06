"""Bills and payments over the API: the admin's bill list filters, bill run (preview, then confirm) and cash /
advance collection (radbill.services.billing, payments) — no second write path. Recording a payment requires an
Idempotency-Key (radbill.services.idempotency): sent again, it answers the first response and pays nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from admin.api import pagination
from admin.api.problems import json_response
from admin.api.registry import Call, Param, api_route
from radbill import clock
from radbill.billing.money import parse_amount
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import billing, billing_pages, idempotency, payments, reports
from radbill.services.customers import get_customer
from radbill.services.idempotency import Response

COLLECT, MANAGE, REPORTS = "billing.collect", "billing.manage", "reports.view"  # as admin/views/billing.py

_INT = {"type": "integer"}
_INT_OR_NULL = {"type": ["integer", "null"]}
_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_DATE = {"type": "string", "format": "date"}
_TIME = {"type": "string", "format": "date-time"}
_MINOR = {"type": "integer", "description": "Minor units of the currency (poisha for BDT)."}

BILL = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "customer_id", "period_start", "period_end", "currency", "total_minor", "paid_minor",
                 "outstanding_minor", "status"],
    "properties": {
        "id": _INT, "customer_id": _INT, "username": _TEXT, "customer_name": _TEXT, "operator_name": _TEXT,
        "period_start": _DATE, "period_end": _DATE, "currency": _TEXT, "amount_minor": _MINOR, "vat_minor": _MINOR,
        "total_minor": _MINOR, "paid_minor": _MINOR, "outstanding_minor": _MINOR,
        "status": {"type": "string", "enum": list(reports.BILL_STATUSES)}, "void_reason": _TEXT_OR_NULL,
        "due_at": _TIME, "issued_at": _TIME,
    },
}
PAYMENT = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "customer_id", "received_at", "amount_minor", "currency", "method"],
    "properties": {
        "id": _INT, "customer_id": _INT, "username": _TEXT, "customer_name": _TEXT, "operator_name": _TEXT,
        "received_at": _TIME, "amount_minor": _MINOR, "reversed_minor": _MINOR, "currency": _TEXT,
        "method": {"type": "string", "enum": list(reports.METHODS)}, "bill_id": _INT_OR_NULL,
        "note": _TEXT_OR_NULL, "txn_id": _TEXT_OR_NULL, "collector": _TEXT_OR_NULL,
    },
}
PAYMENT_RESULT = {
    "type": "object", "additionalProperties": False,
    "required": ["payment", "duplicate", "bills_paid", "applied_minor", "advance_minor", "reactivated"],
    "properties": {
        "payment": PAYMENT,
        "duplicate": {"type": "boolean", "description": "The payment service had this key already: nothing new."},
        "bills_paid": {"type": "array", "items": _INT}, "applied_minor": _MINOR, "advance_minor": _MINOR,
        "reactivated": {"type": "boolean"}, "expires_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
PREVIEW_ITEM = {
    "type": "object", "additionalProperties": False,
    "required": ["customer_id", "period_start", "period_end", "currency", "total_minor", "due_at"],
    "properties": {"customer_id": _INT, "package_id": _INT, "period_start": _DATE, "period_end": _DATE,
                   "currency": _TEXT, "amount_minor": _MINOR, "vat_minor": _MINOR, "total_minor": _MINOR,
                   "due_at": _TIME},
}
PREVIEW = {
    "type": "object", "additionalProperties": False, "required": ["count", "items"],
    "properties": {"count": {"type": "integer", "description": "Bills a run now would create."},
                   "items": {"type": "array", "items": PREVIEW_ITEM, "description": "The first 200 of them."}},
}
RUN_FILTER = {"q": {"type": "string", "description": "Limit the run to customers matching this search."},
              "operator_id": {"type": "integer", "description": "Limit the run to this operator's subtree."}}


def bill_json(r) -> dict:
    return {k: r[k] for k in BILL["properties"]}


def payment_json(r) -> dict:
    return {k: r[k] for k in PAYMENT["properties"]}


def _day(value: int) -> date:
    return date.fromordinal(value)


def _instant(micros: int) -> datetime:
    return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=micros)


def _micros(moment: datetime) -> int:
    delta = moment - datetime.fromtimestamp(0, UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# ---- bills ---------------------------------------------------------------------------------------------------

@api_route("GET", "/bills", permission=COLLECT, summary="List bills", tags=("bills",),
           query=(Param("customer_id", "integer", "Only this customer's bills.", minimum=1),
                  Param("status", enum=reports.BILL_STATUSES),
                  Param("period", description="Bills whose period starts in this month: YYYY-MM."),
                  Param("q", description="Customer ID, mobile, or part of the name or username."),
                  *pagination.PARAMS),
           response=pagination.page_schema(BILL), errors=(422,))
async def list_bills(call: Call):
    """The admin's bill list and filters, newest period first."""
    q = call.query
    filters = reports.BillFilters.from_query({k: q[k] for k in ("status", "period", "q") if q[k]})
    after = pagination.decode(q["cursor"], 2)
    async with call.pool.acquire() as conn:
        rows, more = await billing_pages.bills_page(
            conn, call.scope, filters, customer_id=q["customer_id"], limit=q["limit"],
            after=(_day(after[0]), after[1]) if after else None)
    return pagination.page([bill_json(r) for r in rows], [more[0].toordinal(), more[1]] if more else None)


@api_route("GET", "/bills/{bill_id}", permission=COLLECT, summary="Get one bill", tags=("bills",), response=BILL)
async def get_bill(call: Call):
    async with call.pool.acquire() as conn:
        return bill_json(await billing_pages.get_bill(conn, call.scope, call.path["bill_id"]))


async def _run_ids(conn, call: Call, source: dict) -> list[int] | None:
    return await reports.customers_for_generation(conn, call.scope, str(source.get("q") or "").strip(),
                                                  source.get("operator_id"))


@api_route("GET", "/bill-runs/preview", permission=MANAGE, summary="Preview a bill run", tags=("bills",),
           query=(Param("q", description=RUN_FILTER["q"]["description"]),
                  Param("operator_id", "integer", RUN_FILTER["operator_id"]["description"], minimum=1)),
           response=PREVIEW)
async def preview_run(call: Call):
    """What a bill run now would create (nothing is written): the admin's Generate bills preview."""
    async with call.pool.acquire() as conn:
        ids = await _run_ids(conn, call, call.query)
        rows = await billing.preview_bills(conn, clock.now(), call.scope, ids)
    return {"count": len(rows), "items": [{k: r[k] for k in PREVIEW_ITEM["properties"]} for r in rows[:200]]}


@api_route("POST", "/bill-runs", permission=MANAGE, summary="Run the bill run", tags=("bills",),
           body={"type": "object", "properties": RUN_FILTER},
           response={"type": "object", "required": ["created"], "additionalProperties": False,
                     "properties": {"created": {"type": "integer"}}})
async def confirm_run(call: Call):
    """Create the due bills (idempotent: a period already billed is skipped, so a repeat creates nothing)."""
    async with call.pool.acquire() as conn:
        ids = await _run_ids(conn, call, call.body)
        return {"created": await billing.generate_bills(conn, clock.now(), call.scope, ids)}


# ---- payments ------------------------------------------------------------------------------------------------

PAYMENT_BODY = {
    "type": "object", "required": ["amount"],
    "properties": {
        "kind": {"type": "string", "enum": ["cash", "advance"],
                 "description": "cash: against the open bills, oldest first (or `bill_id`), the rest to the "
                                "advance wallet; advance: all to the wallet. Default cash."},
        "amount": {"type": ["string", "number"], "description": "As the admin form takes it, e.g. \"500\" or "
                                                                "\"500.50\" (major units, never minor)."},
        "bill_id": {"type": "integer"}, "note": {"type": ["string", "null"]},
    },
}


@api_route("POST", "/customers/{customer_id}/payments", permission=COLLECT, status=201, tags=("payments",),
           summary="Record a cash or advance payment (Idempotency-Key header required)",
           body=PAYMENT_BODY, response=PAYMENT_RESULT, errors=(409,))
async def record_payment(call: Call):
    """The admin's Collect form. Send a unique `Idempotency-Key` header (e.g. a UUID): the same key with the same
    body answers the first response again (header `Idempotent-Replayed: true`) and records nothing; the same key
    with another body is a 422; while the first is still running, a duplicate waits for it (409 after 10 s)."""
    key = idempotency.check_key(call.request.headers.get("Idempotency-Key"))
    canonical = json.dumps(call.body, sort_keys=True, separators=(",", ":")).encode()
    fingerprint = idempotency.fingerprint(call.request.method, call.request.path, canonical)
    customer_id = call.path["customer_id"]
    if call.body.get("kind", "cash") not in ("cash", "advance"):
        raise ValidationError(_("kind is cash or advance."), {"kind": _("cash or advance")})

    async def action(conn) -> Response:
        customer = await get_customer(conn, call.scope, customer_id)
        amount = parse_amount(str(call.body["amount"]), customer["currency"])
        # the payment service's own key too: the database refuses a second payment even after this key expires
        options = {"idempotency_key": f"api:{call.client.id}:{key}", "note": (call.body.get("note") or None)}
        if call.body.get("kind") == "advance":
            outcome = await payments.add_advance_payment(conn, call.scope, customer_id, amount, **options)
        else:
            outcome = await payments.record_cash_payment(conn, call.scope, customer_id, amount,
                                                         call.body.get("bill_id"), **options)
        payment = await billing_pages.get_payment(conn, call.scope, outcome.payment["id"])
        return Response(201, {"payment": payment_json(payment), "duplicate": outcome.duplicate,
                              "bills_paid": list(outcome.bills_paid), "applied_minor": outcome.applied_minor,
                              "advance_minor": outcome.advance_minor, "reactivated": outcome.reactivated,
                              "expires_at": outcome.expires_at})

    async with call.pool.acquire() as conn:
        response = await idempotency.run(conn, call.scope, call.client.id, key, fingerprint, action)
    headers = {"Idempotent-Replayed": "true"} if response.replayed else None
    return json_response(response.body, response.status, headers)


@api_route("GET", "/payments", permission=REPORTS, summary="List payments", tags=("payments",),
           query=(Param("customer_id", "integer", "Only this customer's payments.", minimum=1),
                  Param("method", enum=reports.METHODS),
                  Param("from", description="From this local day (YYYY-MM-DD), in the operator's time zone."),
                  Param("to", description="To this local day (YYYY-MM-DD), included."),
                  Param("q", description="Customer ID, mobile, or part of the name or username."),
                  *pagination.PARAMS),
           response=pagination.page_schema(PAYMENT), errors=(422,))
async def list_payments(call: Call):
    """The admin's payment history and filters, newest first."""
    q = call.query
    async with call.pool.acquire() as conn:
        timezone = await conn.fetchval("SELECT timezone FROM operators WHERE id = $1", call.scope.operator_id)
        filters = reports.PaymentFilters.from_query({k: q[k] for k in ("method", "from", "to", "q") if q[k]},
                                                    timezone or "Asia/Dhaka")
        after = pagination.decode(q["cursor"], 2)
        rows, more = await billing_pages.payments_page(
            conn, call.scope, filters, customer_id=q["customer_id"], limit=q["limit"],
            after=(_instant(after[0]), after[1]) if after else None)
    return pagination.page([payment_json(r) for r in rows], [_micros(more[0]), more[1]] if more else None)


@api_route("GET", "/payments/{payment_id}", permission=REPORTS, summary="Get one payment", tags=("payments",),
           response=PAYMENT)
async def get_payment(call: Call):
    async with call.pool.acquire() as conn:
        return payment_json(await billing_pages.get_payment(conn, call.scope, call.path["payment_id"]))

