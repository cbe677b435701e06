"""Bills & Payments: customer bills and manual bill runs, collecting cash and advance, payment history and exports.

Receipts/invoices live in billing_documents.py, reseller balances in billing_resellers.py (imported below so
that importing this module registers every Bills & Payments route).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import tempfile
from pathlib import Path

from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.web import apply_security_headers, redirect, render
from radbill import clock
from radbill.billing.money import parse_amount
from radbill.errors import RepeatSuspected, ValidationError
from radbill.i18n import _, lazy_gettext, ngettext
from radbill.services import billing, payments, reports
from radbill.validate import optional_id

COLLECT, MANAGE, REPORTS = "billing.collect", "billing.manage", "reports.view"
PREVIEW_ROWS = 200
_KEY = re.compile(r"^[A-Za-z0-9_-]{8,100}$")


def _int(value) -> int | None:
    return optional_id(value)


def new_idempotency_key() -> str:
    """Rendered into each payment form: the same form sent twice carries the same key and records one payment."""
    return secrets.token_urlsafe(18)


# ---- Customer Bills ------------------------------------------------------------------------------------

@route("GET", "/bills", roles=ALL_ROLES, permission=COLLECT)
async def bill_list(request: web.Request, scope):
    filters = reports.BillFilters.from_query(request.query)
    async with request.app["pool"].acquire() as conn:
        rows, totals = await reports.bill_list(conn, scope, filters)
    return render(request, "billing_bills.html", rows=rows, totals=totals, filters=filters,
                  statuses=reports.BILL_STATUSES, limit=reports.LIST_LIMIT)


def _run_filter(source) -> tuple[str, int | None]:
    return str(source.get("q", "") or "").strip(), _int(source.get("operator_id"))


@route("GET", "/bills/generate", roles=ALL_ROLES, permission=MANAGE)
async def generate_preview(request: web.Request, scope):
    """What a bill run now would create for the chosen customers; nothing is written."""
    q, operator_id = _run_filter(request.query)
    async with request.app["pool"].acquire() as conn:
        ids = await reports.customers_for_generation(conn, scope, q, operator_id)
        preview = await billing.preview_bills(conn, clock.now(), scope, ids)
        names = await reports.preview_names(conn, scope, [r["customer_id"] for r in preview[:PREVIEW_ROWS]])
        operators = await reports.operators_in_scope(conn, scope)
    totals: dict[str, list[int]] = {}
    for r in preview:
        totals.setdefault(r["currency"], [0, 0])
        totals[r["currency"]][0] += 1
        totals[r["currency"]][1] += r["total_minor"]
    return render(request, "billing_generate.html", preview=preview[:PREVIEW_ROWS], count=len(preview),
                  names=names, totals=totals, operators=operators, q=q, operator_id=operator_id,
                  shown=PREVIEW_ROWS)


@route("POST", "/bills/generate", roles=ALL_ROLES, permission=MANAGE)
async def generate_confirm(request: web.Request, scope):
    """Create the bills (idempotent: a period already billed is skipped, so a second click creates nothing)."""
    q, operator_id = _run_filter(await request.post())
    async with request.app["pool"].acquire() as conn:
        ids = await reports.customers_for_generation(conn, scope, q, operator_id)
        created = await billing.generate_bills(conn, clock.now(), scope, ids)
    if not created:
        return redirect(request, "/bills", _("No new bills: every due period was already billed."))
    return redirect(request, "/bills?status=unpaid",
                    ngettext("%(num)s bill created; advance credit was applied.",
                             "%(num)s bills created; advance credit was applied.", created))


# ---- collecting cash and advance -----------------------------------------------------------------------

KINDS = {"cash": lazy_gettext("Collect cash"), "advance": lazy_gettext("Add advance payment")}


async def _collect_page(request, scope, customer_id: int, form: dict, errors: dict | None = None,
                        message: str | None = None, status: int = 200, repeat=None) -> web.Response:
    async with request.app["pool"].acquire() as conn:
        data = await reports.customer_billing(conn, scope, customer_id)
    return render(request, "billing_collect.html", status=status, form=form, errors=errors or {},
                  message=message, kinds=KINDS, repeat=repeat, **data)


@route("GET", "/customers/{customer_id:\\d+}/collect", roles=ALL_ROLES, permission=COLLECT)
async def collect_form(request: web.Request, scope):
    kind = request.query.get("kind") if request.query.get("kind") in KINDS else "cash"
    form = {"kind": kind, "bill_id": request.query.get("bill_id", ""), "amount": "", "note": "",
            "idempotency_key": new_idempotency_key()}
    return await _collect_page(request, scope, int(request.match_info["customer_id"]), form)


@route("POST", "/customers/{customer_id:\\d+}/collect", roles=ALL_ROLES, permission=COLLECT)
async def collect_submit(request: web.Request, scope):
    """Record cash (against one bill or the open bills oldest first; overpayment becomes advance) or advance."""
    customer_id = int(request.match_info["customer_id"])
    posted = await request.post()
    form = {k: str(posted.get(k, "") or "").strip() for k in ("kind", "bill_id", "amount", "note", "idempotency_key")}
    form["kind"] = form["kind"] if form["kind"] in KINDS else "cash"
    confirmed = posted.get("confirm_repeat") == "yes"
    async with request.app["pool"].acquire() as conn:
        customer = (await reports.customer_billing(conn, scope, customer_id))["customer"]
        try:
            if not _KEY.match(form["idempotency_key"]):
                raise ValidationError(_("This form has expired: reload the page and enter the payment again."),
                                      {"idempotency_key": "missing"})
            amount = parse_amount(form["amount"], customer["currency"])
            options = {"idempotency_key": form["idempotency_key"], "note": form["note"] or None,
                       "confirm_repeat": confirmed}
            if form["kind"] == "advance":
                outcome = await payments.add_advance_payment(conn, scope, customer_id, amount, **options)
            else:
                outcome = await payments.record_cash_payment(conn, scope, customer_id, amount,
                                                             _int(form["bill_id"]), **options)
        except RepeatSuspected as exc:  # the same form key again: confirming records a second payment
            return await _collect_page(request, scope, customer_id, form, {}, str(exc), 409, repeat=exc.first)
        except ValidationError as exc:  # BalanceInsufficient included: its message says whom to contact
            errors = dict(exc.fields)
            if "amount" in errors:
                errors["amount"] = str(exc)
            form["idempotency_key"] = form["idempotency_key"] if _KEY.match(form["idempotency_key"]) \
                else new_idempotency_key()  # nothing was recorded, so the same key is still unused
            return await _collect_page(request, scope, customer_id, form, errors, str(exc), 422)
    payment = outcome.payment
    if outcome.duplicate:
        message = _("This payment was already recorded (the form was sent twice); nothing was added.")
    elif form["kind"] == "advance":
        message = _("Advance payment recorded; the next bill draws on it.")
    elif outcome.reactivated:
        message = _("Payment recorded; the customer is active again.")
    else:
        message = _("Payment recorded.")
    return redirect(request, f"/payments/{payment['id']}", message)


# ---- Customer Payments ---------------------------------------------------------------------------------

async def _history(request, scope, limit: int):
    filters = reports.PaymentFilters.from_query(request.query, request["session"].timezone)
    async with request.app["pool"].acquire() as conn:
        rows, totals = await reports.payment_history(conn, scope, filters, limit)
        people = await reports.collectors(conn, scope)
    return filters, rows, totals, people


@route("GET", "/payments", roles=ALL_ROLES, permission=REPORTS)
async def payment_list(request: web.Request, scope):
    filters, rows, totals, people = await _history(request, scope, reports.LIST_LIMIT)
    return render(request, "billing_payments.html", rows=rows, totals=totals, filters=filters, collectors=people,
                  methods=reports.METHODS, limit=reports.LIST_LIMIT, query=request.query_string)


def _attachment(extension: str) -> str:
    return f'attachment; filename="payments-{clock.now():%Y%m%d-%H%M}.{extension}"'


@route("GET", "/payments.csv", roles=ALL_ROLES, permission=REPORTS)
async def payment_csv(request: web.Request, scope):
    """Every matching payment, streamed (no row cap, flat memory): see reports.payments_csv_chunks."""
    filters = reports.PaymentFilters.from_query(request.query, request["session"].timezone)  # 400 before sending
    response = web.StreamResponse(headers={"Content-Disposition": _attachment("csv")})
    response.content_type = "text/csv"
    apply_security_headers(request, response)
    async with request.app["pool"].acquire() as conn:
        chunks = reports.payments_csv_chunks(conn, scope, filters)
        await response.prepare(request)
        async for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response


@route("GET", "/payments.xlsx", roles=ALL_ROLES, permission=REPORTS)
async def payment_xlsx(request: web.Request, scope):
    """Every matching payment (no row cap, flat memory): the workbook is written to a temporary file as the rows
    come (reports.payments_xlsx_file), then sent from it in chunks; a zip cannot be streamed before it is whole."""
    filters = reports.PaymentFilters.from_query(request.query, request["session"].timezone)  # 400 before work
    with tempfile.TemporaryDirectory(prefix="radbill-export-") as folder:
        path = Path(folder) / "payments.xlsx"
        async with request.app["pool"].acquire() as conn:
            await reports.payments_xlsx_file(conn, scope, filters, path)
        response = web.StreamResponse(headers={"Content-Disposition": _attachment("xlsx")})
        response.content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        response.content_length = path.stat().st_size
        apply_security_headers(request, response)
        await response.prepare(request)
        with path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, 1 << 18):
                await response.write(chunk)
    await response.write_eof()
    return response


from admin.views import billing_documents, billing_resellers  # noqa: E402,F401  (register their routes)
