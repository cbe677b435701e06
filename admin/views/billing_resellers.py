"""Reseller balances: operators see and fund their sub-operators; both sides read the statement."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ALL_ROLES, OPERATORS, may, route
from admin.web import redirect, render
from radbill.billing.money import parse_amount
from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services import ledger, reports

MANAGE = "billing.manage"


@route("GET", "/resellers", roles=OPERATORS, permission=MANAGE, section=lazy_gettext("Reseller balances"))
async def reseller_list(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        rows = await reports.sub_operator_balances(conn, scope)
    return render(request, "billing_resellers.html", rows=rows)


async def _statement(request, scope, operator_id: int, status: int = 200, **extra) -> web.Response:
    async with request.app["pool"].acquire() as conn:
        sub = await reports.reseller(conn, scope, operator_id)
        entries = await ledger.reseller_statement(conn, scope, operator_id)
    own = sub["id"] == scope.operator_id
    extra.setdefault("errors", {})
    extra.setdefault("form", {})
    return render(request, "billing_statement.html", status=status, sub=sub, entries=entries[::-1], own=own,
                  can_fund=not own and may(scope, f"/resellers/{operator_id}/top-up", "POST"), **extra)


@route("GET", "/balance", roles=frozenset({"sub_operator"}))
async def own_balance(request: web.Request, scope):
    """A sub-operator's own balance with its parent and the statement."""
    return await _statement(request, scope, scope.operator_id)


@route("GET", "/resellers/{operator_id:\\d+}", roles=ALL_ROLES, permission=MANAGE)
async def reseller_statement(request: web.Request, scope):
    return await _statement(request, scope, int(request.match_info["operator_id"]))


@route("POST", "/resellers/{operator_id:\\d+}/top-up", roles=OPERATORS, permission=MANAGE)
async def reseller_top_up(request: web.Request, scope):
    operator_id = int(request.match_info["operator_id"])
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        sub = await reports.reseller(conn, scope, operator_id)
        try:
            amount = parse_amount(str(form.get("amount", "")), sub["currency"])
            await ledger.top_up_reseller(conn, scope, operator_id, amount, str(form.get("note", "")).strip() or None)
        except ValidationError as exc:
            return await _statement(request, scope, operator_id, 422, message=str(exc),
                                    errors={"top_up": str(exc)}, form=dict(form))
    return redirect(request, f"/resellers/{operator_id}", _("Balance of %(name)s topped up.", name=sub["name"]))


@route("POST", "/resellers/{operator_id:\\d+}/credit-limit", roles=OPERATORS, permission=MANAGE)
async def reseller_credit_limit(request: web.Request, scope):
    operator_id = int(request.match_info["operator_id"])
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        sub = await reports.reseller(conn, scope, operator_id)
        try:
            limit = parse_amount(str(form.get("credit_limit", "")), sub["currency"])
            await ledger.set_credit_limit(conn, scope, operator_id, limit)
        except ValidationError as exc:
            return await _statement(request, scope, operator_id, 422, message=str(exc),
                                    errors={"credit_limit": str(exc)}, form=dict(form))
    return redirect(request, f"/resellers/{operator_id}", _("Credit limit of %(name)s saved.", name=sub["name"]))
