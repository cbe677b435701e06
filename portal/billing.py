"""A logged-in customer's bills and payments: the list, an invoice and a receipt (HTML and PDF, through the
admin's document code), Pay now for an open bill and an advance top-up through the online gateways.

Reading runs in the customer's one-customer database scope (portal/session.py), so a bill or payment id of
another customer is simply not there: 404, as for a missing one. Starting a payment runs as the system (the
intent's events are the system's rows) for the customer of the session, never one a form names.
"""

from __future__ import annotations

from aiohttp import web

from portal import session as ps
from portal.render import render
from portal.views import GATEWAY_NAMES, GatewayDown, csp, origin, start_online_payment
from radbill import documents
from radbill.billing.money import parse_amount
from radbill.db.pool import SYSTEM, scoped
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.payments.settle import gateways_for
from radbill.services import portal_home, reports, transfers, wallets

WALLET_NAMES = {"bkash": "bKash", "nagad": "Nagad", "rocket": "Rocket", "upay": "Upay"}


def _id(request: web.Request, name: str) -> int:
    try:
        value = int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound() from None
    if not 0 < value < 2**63:
        raise web.HTTPNotFound()
    return value


async def _bills_page(request: web.Request, status: int = 200, error: str | None = None,
                      amount: str = "", transfer: dict | None = None, notice: str | None = None) -> web.Response:
    session = ps.current(request)
    async with request.app["pool"].acquire() as conn:
        facts = await portal_home.account(conn, session.scope)
        bills = await portal_home.bills(conn, session.customer_id)
        paid = await portal_home.payment_list(conn, session.customer_id)
        gateways = await gateways_for(conn, session.operator_id)
        offered = await wallets.wallets_for_customer(conn, {"operator_id": session.operator_id})
        transfers = await portal_home.transfer_list(conn, session.customer_id)
    response = render(request, "bills.html", status=status, facts=facts, bills=bills, payments=paid, error=error,
                      amount=amount, gateways=[{"id": g["id"], "name": GATEWAY_NAMES.get(g["kind"], g["kind"])}
                                               for g in gateways],
                      wallets=offered, transfers=transfers, transfer=transfer or {}, notice=notice,
                      wallet_names=WALLET_NAMES)
    # the pay buttons' forms end in a redirect to the gateway's page, which form-action must allow
    response.headers["Content-Security-Policy"] = csp(" ".join(sorted({origin(g["base_url"]) for g in gateways})))
    return response


@ps.customer
async def bill_list(request: web.Request) -> web.Response:
    # ?amount= pre-fills the advance form (the data top-up page links here with what is missing)
    return await _bills_page(request, amount=request.query.get("amount", "")[:20])


@ps.customer
async def invoice_page(request: web.Request) -> web.Response:
    async with request.app["pool"].acquire() as conn:
        data = await reports.invoice(conn, ps.current(request).scope, _id(request, "bill_id"))
    return render(request, "invoice.html", **data)


@ps.customer
async def invoice_pdf(request: web.Request) -> web.Response:
    async with request.app["pool"].acquire() as conn:
        data = await reports.invoice(conn, ps.current(request).scope, _id(request, "bill_id"))
        logo = await reports.isp_logo(conn, data["isp"]["id"])
    return _pdf(documents.invoice_pdf(data, logo), f"invoice-{data['bill']['id']}.pdf")


@ps.customer
async def receipt_page(request: web.Request) -> web.Response:
    async with request.app["pool"].acquire() as conn:
        data = await reports.receipt(conn, ps.current(request).scope, _id(request, "payment_id"))
    return render(request, "payment_receipt.html", **data)


@ps.customer
async def receipt_pdf(request: web.Request) -> web.Response:
    async with request.app["pool"].acquire() as conn:
        data = await reports.receipt(conn, ps.current(request).scope, _id(request, "payment_id"))
        logo = await reports.isp_logo(conn, data["isp"]["id"])
    return _pdf(documents.receipt_pdf(data, logo), f"receipt-{data['payment']['id']}.pdf")


def _pdf(body: bytes, name: str) -> web.Response:
    return web.Response(body=body, content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}"'})


def _gateway_of(form) -> int | None:
    try:
        value = int(str(form.get("gateway", "")))
    except ValueError:
        return None
    return value if 0 < value < 2**63 else None


async def _start(request: web.Request, bill_id: int | None, amount_minor: int | None, gateway_id: int) -> str:
    customer_id = ps.current(request).customer_id
    with scoped(SYSTEM):
        async with request.app["pool"].acquire() as conn:
            return await start_online_payment(request, conn, customer_id, bill_id, amount_minor, gateway_id,
                                              "portal")


@ps.customer
async def pay_bill(request: web.Request) -> web.Response:
    """Pay now: the open amount of one of the customer's bills."""
    bill_id = _id(request, "bill_id")
    async with request.app["pool"].acquire() as conn:  # the customer's scope: another's bill is not found
        bill = await conn.fetchrow("SELECT status FROM bills WHERE id = $1 AND customer_id = $2", bill_id,
                                   ps.current(request).customer_id)
    if bill is None:
        raise NotFound("bill not found")
    if bill["status"] not in ("unpaid", "partial"):
        return await _bills_page(request, 400, _("This bill is already paid. Thank you."))
    gateway_id = _gateway_of(await request.post())
    if gateway_id is None:
        return await _bills_page(request, 400, _("Choose how you want to pay."))
    try:
        url = await _start(request, bill_id, None, gateway_id)
    except (NotFound, ValidationError):
        return await _bills_page(request, 400, _("Choose how you want to pay."))
    except GatewayDown as exc:
        return await _bills_page(request, 503, str(exc))
    raise web.HTTPSeeOther(url)


@ps.customer
async def top_up(request: web.Request) -> web.Response:
    """An advance payment of an amount the customer chooses (the next bills draw on it)."""
    form = await request.post()
    typed = str(form.get("amount", ""))[:32]
    async with request.app["pool"].acquire() as conn:
        currency = await conn.fetchval("SELECT o.currency FROM customers c JOIN operators o ON o.id = c.operator_id"
                                       " WHERE c.id = $1", ps.current(request).customer_id)
    if not typed.strip():
        return await _bills_page(request, 400, _("Enter the amount to pay, like 500."), typed)
    try:
        amount = parse_amount(typed, (currency or "BDT").strip(), allow_zero=False)
    except ValidationError as exc:
        return await _bills_page(request, 400, str(exc), typed)
    gateway_id = _gateway_of(form)
    if gateway_id is None:
        return await _bills_page(request, 400, _("Choose how you want to pay."), typed)
    try:
        url = await _start(request, None, amount, gateway_id)
    except (NotFound, ValidationError):
        return await _bills_page(request, 400, _("Choose how you want to pay."), typed)
    except GatewayDown as exc:
        return await _bills_page(request, 503, str(exc), typed)
    raise web.HTTPSeeOther(url)


@ps.customer
async def report_transfer(request: web.Request) -> web.Response:
    """A "Send Money" transfer the customer made to one of their ISP's wallets: recorded unverified, for staff
    to check against the wallet's statement (radbill.services.transfers, the same path as staff entry)."""
    session = ps.current(request)
    form = await request.post()
    typed = {k: str(form.get(k, ""))[:40] for k in ("wallet_id", "sender_number", "amount", "trxid")}
    try:
        async with request.app["pool"].acquire() as conn:
            await transfers.submit(conn, session.scope, session.customer_id, typed, origin="customer",
                                   ip=ps.client_ip(request))
    except ValidationError as exc:
        # the claim's fields each say what to fix ("Choose the wallet number ..."): all of them, after the summary
        problems = [str(v) for v in exc.fields.values() if v and str(v) != str(exc)]
        return await _bills_page(request, 400, " ".join([str(exc), *problems]), transfer=typed)
    return await _bills_page(request, notice=_(
        "Thank you. We will check the transfer with the wallet's statement and then credit it to your account."))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/bills", bill_list)
    app.router.add_get("/bills/{bill_id}/invoice", invoice_page)
    app.router.add_get("/bills/{bill_id}/invoice.pdf", invoice_pdf)
    app.router.add_post("/bills/{bill_id}/pay", pay_bill)
    app.router.add_get("/payments/{payment_id}/receipt", receipt_page)
    app.router.add_get("/payments/{payment_id}/receipt.pdf", receipt_pdf)
    app.router.add_post("/topup", top_up)
    app.router.add_post("/transfers", report_transfer)
