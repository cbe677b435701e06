"""Mobile-wallet transfers: the operator's receiving numbers, reporting a customer's transfer, and the queue where
staff confirm (after a confirmation page) or reject them (thin: services.wallets and services.transfers)."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.web import client_ip, redirect, render
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import reports, transfers, wallets

DECIDE = {"roles": ALL_ROLES, "permission": transfers.PERMISSION}
COLLECT = {"roles": ALL_ROLES, "permission": "billing.collect"}


def _id(request: web.Request, name: str) -> int:
    return int(request.match_info[name])


# ---- wallets (receiving numbers) ----------------------------------------------------------------------

async def _wallets_page(request, scope, form: dict, errors: dict, status: int = 200, message: str | None = None):
    async with request.app["pool"].acquire() as conn:
        rows = await wallets.list_wallets(conn, scope)
    return render(request, "wallets.html", status=status, wallets=rows, form=form, errors=errors, message=message,
                  kinds=wallets.KINDS)


@route("GET", "/wallets", **DECIDE)
async def wallet_list(request: web.Request, scope):
    return await _wallets_page(request, scope, {"kind": "bkash", "enabled": "on"}, {})


@route("POST", "/wallets", **DECIDE)
async def wallet_create(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await wallets.create_wallet(conn, scope, form, client_ip(request))
        except ValidationError as exc:
            return await _wallets_page(request, scope, dict(form), exc.fields, 422, str(exc))
    return redirect(request, "/wallets", _("Wallet number added: customers can report transfers to it now."))


async def _wallet_form(request, wallet, form, errors, status=200, message=None):
    return render(request, "wallet_form.html", status=status, wallet=wallet, form=form, errors=errors,
                  message=message, kinds=wallets.KINDS)


@route("GET", "/wallets/{wallet_id:\\d+}/edit", **DECIDE)
async def wallet_edit(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        wallet = await wallets.get_wallet(conn, scope, _id(request, "wallet_id"))
    form = {"kind": wallet["kind"], "number": "0" + wallet["number"].removeprefix("+880"),
            "label": wallet["label"], "enabled": "on" if wallet["enabled"] else ""}
    return await _wallet_form(request, wallet, form, {})


@route("POST", "/wallets/{wallet_id:\\d+}/edit", **DECIDE)
async def wallet_update(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        wallet = await wallets.get_wallet(conn, scope, _id(request, "wallet_id"))
        try:
            await wallets.update_wallet(conn, scope, wallet["id"], form, client_ip(request))
        except ValidationError as exc:
            return await _wallet_form(request, wallet, dict(form), exc.fields, 422, str(exc))
    return redirect(request, "/wallets", _("Wallet saved."))


# ---- reporting a transfer -----------------------------------------------------------------------------

async def _submit_page(request, scope, customer_id: int, form: dict, errors: dict, status: int = 200,
                       message: str | None = None):
    async with request.app["pool"].acquire() as conn:
        data = await reports.customer_billing(conn, scope, customer_id)
        offered = await wallets.wallets_for_customer(conn, data["customer"])
    return render(request, "transfer_submit.html", status=status, form=form, errors=errors, message=message,
                  wallets=offered, kinds=wallets.KINDS, **data)


@route("GET", "/customers/{customer_id:\\d+}/transfer", **COLLECT)
async def transfer_form(request: web.Request, scope):
    return await _submit_page(request, scope, _id(request, "customer_id"), {}, {})


@route("POST", "/customers/{customer_id:\\d+}/transfer", **COLLECT)
async def transfer_submit(request: web.Request, scope):
    customer_id = _id(request, "customer_id")
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await transfers.submit(conn, scope, customer_id, form, ip=client_ip(request))
        except ValidationError as exc:
            return await _submit_page(request, scope, customer_id, dict(form), exc.fields, 422, str(exc))
    return redirect(request, "/transfers?status=unverified",
                    _("Transfer reported. It counts as paid once someone who sees the wallet's statement confirms "
                      "it."))


# ---- the queue, confirm and reject --------------------------------------------------------------------

@route("GET", "/transfers", **COLLECT)
async def transfer_queue(request: web.Request, scope):
    filters = transfers.TransferFilters.from_query(request.query)
    async with request.app["pool"].acquire() as conn:
        rows = await transfers.list_transfers(conn, scope, filters)
        owned = await wallets.list_wallets(conn, scope)
    decidable = {r["id"] for r in rows if transfers.decision_refusal(scope, r["wallet_owner_path"]) is None}
    return render(request, "transfers.html", rows=rows, filters=filters, wallets=owned, decidable=decidable,
                  statuses=transfers.STATUSES, kinds=wallets.KINDS)


async def _decide_page(request, scope, transfer_id: int, errors: dict | None = None, status: int = 200,
                       message: str | None = None, reason: str = ""):
    async with request.app["pool"].acquire() as conn:
        transfer = await transfers.get_transfer(conn, scope, transfer_id)
    return render(request, "transfer_decide.html", status=status, t=transfer, errors=errors or {},
                  message=message, reason=reason, kinds=wallets.KINDS,
                  refusal=transfers.decision_refusal(scope, transfer["wallet_owner_path"]))


@route("GET", "/transfers/{transfer_id:\\d+}", **DECIDE)
async def transfer_decide(request: web.Request, scope):
    return await _decide_page(request, scope, _id(request, "transfer_id"))


@route("POST", "/transfers/{transfer_id:\\d+}/confirm", **DECIDE)
async def transfer_confirm(request: web.Request, scope):
    transfer_id = _id(request, "transfer_id")
    form = await request.post()
    if form.get("confirmed") != "yes":  # the confirmation page first: a payment cannot be undone by a click
        return await _decide_page(request, scope, transfer_id)
    async with request.app["pool"].acquire() as conn:
        try:
            decision = await transfers.confirm(conn, scope, transfer_id, client_ip(request))
        except ValidationError as exc:
            return await _decide_page(request, scope, transfer_id, exc.fields, 409, str(exc))
    if decision.duplicate:
        return redirect(request, "/transfers", _("This transfer was already confirmed; nothing was added."))
    message = _("Transfer confirmed and payment recorded.")
    if decision.reactivated:
        message += " " + _("The customer is active again.")
    return redirect(request, f"/payments/{decision.payment_id}", message)


@route("POST", "/transfers/{transfer_id:\\d+}/reject", **DECIDE)
async def transfer_reject(request: web.Request, scope):
    transfer_id = _id(request, "transfer_id")
    reason = str((await request.post()).get("reason") or "").strip()
    async with request.app["pool"].acquire() as conn:
        try:
            await transfers.reject(conn, scope, transfer_id, reason, client_ip(request))
        except ValidationError as exc:
            return await _decide_page(request, scope, transfer_id, exc.fields, 422, str(exc), reason[:500])
    return redirect(request, "/transfers", _("Transfer rejected; the reason is kept with it."))
