"""Corrections: reverse a payment, void a bill. Each is a form, then a preview of what it will do (the service run
and rolled back), then the confirmation that does it. Nothing is written until "confirmed=yes" comes back.

Who: the group admin, operators, and managers with billing.manage. Sub-operators may not: a reversal gives the
wholesale back to the sub-operator's own balance and erases money it collected, so its parent operator decides
(the "ask your parent operator" page)."""

from __future__ import annotations

from aiohttp import web

from admin.routing import OPERATORS, route
from admin.views.billing import _KEY, new_idempotency_key
from admin.web import redirect, render
from radbill.billing.money import format_minor, parse_amount
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import corrections, reports
from radbill.services.customers import get_customer

MANAGE = "billing.manage"
SECTION = "Corrections (void, reverse)"


def _form(posted) -> dict:
    return {k: str(posted.get(k, "") or "").strip() for k in ("amount", "reason", "idempotency_key")}


async def _reverse_page(request, scope, payment_id: int, form: dict, *, errors=None, message=None, outcome=None,
                        status: int = 200) -> web.Response:
    async with request.app["pool"].acquire() as conn:
        payment = await corrections.scoped_payment(conn, scope, payment_id)
        customer = await get_customer(conn, scope, payment["customer_id"])
    return render(request, "corrections_reverse.html", status=status, payment=payment, customer=customer, form=form,
                  errors=errors or {}, message=message, outcome=outcome)


@route("GET", "/payments/{payment_id:\\d+}/reverse", roles=OPERATORS, permission=MANAGE, section=SECTION)
async def reverse_form(request: web.Request, scope):
    payment_id = int(request.match_info["payment_id"])
    async with request.app["pool"].acquire() as conn:
        payment = await corrections.scoped_payment(conn, scope, payment_id)
    left = format_minor(payment["left_minor"], payment["currency"]).removeprefix(payment["currency"].upper() + " ")
    form = {"amount": left if payment["left_minor"] else "", "reason": "", "idempotency_key": new_idempotency_key()}
    return await _reverse_page(request, scope, payment_id, form)


@route("POST", "/payments/{payment_id:\\d+}/reverse", roles=OPERATORS, permission=MANAGE, section=SECTION)
async def reverse_submit(request: web.Request, scope):
    """Without confirmed=yes: the preview (nothing is written). With it: the reversal."""
    payment_id = int(request.match_info["payment_id"])
    posted = await request.post()
    form = _form(posted)
    confirmed = posted.get("confirmed") == "yes"
    async with request.app["pool"].acquire() as conn:
        payment = await corrections.scoped_payment(conn, scope, payment_id)
        try:
            if not _KEY.match(form["idempotency_key"]):
                raise ValidationError(_("This form has expired: reload the page and enter the reversal again."),
                                      {"idempotency_key": _("missing")})
            amount = parse_amount(form["amount"], payment["currency"])
            outcome = await corrections.reverse_payment(conn, scope, payment_id, amount, form["reason"],
                                                        idempotency_key=form["idempotency_key"],
                                                        preview=not confirmed)
        except ValidationError as exc:
            return await _reverse_page(request, scope, payment_id, form, errors=exc.fields, message=str(exc),
                                       status=422)
    if not confirmed:
        return await _reverse_page(request, scope, payment_id, form, outcome=outcome)
    message = (_("This reversal was already recorded (the form was sent twice); nothing more was taken back.")
               if outcome.duplicate else _("Payment reversed."))
    return redirect(request, f"/payments/{payment_id}", message)


async def _void_page(request, scope, bill_id: int, form: dict, *, errors=None, message=None, outcome=None,
                     status: int = 200) -> web.Response:
    async with request.app["pool"].acquire() as conn:
        data = await reports.invoice(conn, scope, bill_id)
    return render(request, "corrections_void.html", status=status, form=form, errors=errors or {}, message=message,
                  outcome=outcome, **data)


@route("GET", "/bills/{bill_id:\\d+}/void", roles=OPERATORS, permission=MANAGE, section=SECTION)
async def void_form(request: web.Request, scope):
    return await _void_page(request, scope, int(request.match_info["bill_id"]), {"reason": ""})


@route("POST", "/bills/{bill_id:\\d+}/void", roles=OPERATORS, permission=MANAGE, section=SECTION)
async def void_submit(request: web.Request, scope):
    """Without confirmed=yes: the preview (nothing is written). With it: the void (a second one is a no-op)."""
    bill_id = int(request.match_info["bill_id"])
    posted = await request.post()
    form = {"reason": str(posted.get("reason", "") or "").strip()}
    confirmed = posted.get("confirmed") == "yes"
    async with request.app["pool"].acquire() as conn:
        try:
            outcome = await corrections.void_bill(conn, scope, bill_id, form["reason"], preview=not confirmed)
        except ValidationError as exc:
            return await _void_page(request, scope, bill_id, form, errors=exc.fields, message=str(exc), status=422)
    if not confirmed:
        return await _void_page(request, scope, bill_id, form, outcome=outcome)
    message = _("This bill was already void; nothing changed.") if outcome.duplicate else _("Bill voided.")
    return redirect(request, f"/bills/{bill_id}/invoice", message)
