"""Refund an online payment (full or partial, with a reason): a form, a server-side confirmation page (it moves
money), then radbill.payments.refunds does it."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from admin.routing import OPERATORS, route
from admin.web import redirect, render
from radbill.billing.money import format_minor, parse_amount
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.payments.refunds import check_refund, refund_payment, refundable
from radbill.services.corrections import reverse_payment

REFUNDS = {"roles": OPERATORS, "permission": "billing.manage", "section": "Refunds of online payments"}


async def _page(request, scope, form: dict, error: str | None = None, status: int = 200, confirm: bool = False,
                effects=None):
    payment_id = int(request.match_info["payment_id"])
    async with request.app["pool"].acquire() as conn:
        payment = await refundable(conn, scope, payment_id)
        refunds = await conn.fetch("SELECT * FROM payment_refunds WHERE payment_id = $1 ORDER BY id", payment_id)
    return render(request, "payment_refund.html", status=status, payment=payment, refunds=refunds, form=form,
                  error=error, confirm=confirm, currency=payment["currency"].strip(), effects=effects)


@route("GET", "/payments/{payment_id:\\d+}/refund", **REFUNDS)
async def refund_form(request: web.Request, scope):
    return await _page(request, scope, {"amount": "", "reason": ""})


@route("POST", "/payments/{payment_id:\\d+}/refund", **REFUNDS)
async def refund_submit(request: web.Request, scope):
    """First POST: check and show what will happen; the second (confirmed=yes) refunds at the gateway."""
    payment_id = int(request.match_info["payment_id"])
    posted = await request.post()
    form = {k: str(posted.get(k, "") or "").strip() for k in ("amount", "reason")}
    async with request.app["pool"].acquire() as conn:
        payment = await refundable(conn, scope, payment_id)
        try:
            amount = parse_amount(form["amount"], payment["currency"].strip(), allow_zero=False)
            check_refund(payment, amount, form["reason"])
        except ValidationError as exc:
            return await _page(request, scope, form, str(exc), 422)
        if posted.get("confirmed") != "yes":
            form["amount_text"] = format_minor(amount, payment["currency"].strip())
            # what confirming will do to the customer: the reversal itself, run and rolled back
            try:
                preview = await reverse_payment(conn, scope, payment_id, amount, form["reason"], preview=True)
            except ValidationError as exc:
                return await _page(request, scope, form, str(exc), 422)
            return await _page(request, scope, form, confirm=True, effects=preview.effects)
        try:
            async with aiohttp.ClientSession() as http:
                outcome = await refund_payment(conn, scope, payment_id, amount, form["reason"], http)
        except ValidationError as exc:  # BalanceInsufficient included: the sub-operator's balance cannot take it
            return await _page(request, scope, form, str(exc), 422)
    if not outcome.ok:
        return await _page(request, scope, form, outcome.message, 502)
    return redirect(request, f"/payments/{payment_id}/refund", outcome.message or _("Refunded."))
