"""Online payment gateway accounts (bKash, SSLCommerz, Nagad): list, add, edit (thin: services.payment_gateways).
Operators and the group admin (managers with the payments permission); a sub-operator gets the "ask your parent
operator" page, as the FAQ reserves this. Credentials are write-only fields: never rendered, not even after a
failed save."""

from __future__ import annotations

from aiohttp import web

from admin.routing import OPERATORS, route
from admin.web import client_ip, redirect, render
from radbill import clock
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.payments import gateway_config as gc
from radbill.services import payment_gateways as svc
from radbill.services import settlement_report as report
from radbill.services.transfers import PERMISSION

GATEWAYS = {"roles": OPERATORS, "permission": PERMISSION, "section": "Payment gateways"}


def _safe(form) -> dict:
    """What a form may echo back: everything but the credentials."""
    return {k: str(v) for k, v in form.items() if not k.startswith("cred_")}


def _page(request, gateway, form, errors, status=200, message=None):
    return render(request, "payment_gateway_form.html", status=status, gateway=gateway, form=form, errors=errors,
                  message=message, kinds=gc.KINDS, modes=gc.MODES, credentials=gc.CREDENTIALS,
                  defaults={f"{k}/{m}": url for (k, m), url in gc.DEFAULT_BASE_URLS.items()},
                  field_name=gc.credential_field)


@route("GET", "/payment-gateways", **GATEWAYS)
async def payment_gateway_list(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        rows = await svc.list_gateways(conn, scope)
    return render(request, "payment_gateways.html", gateways=rows, kinds=gc.KINDS, modes=gc.MODES,
                  percent=gc.percent_text)


@route("GET", "/payment-gateways/new", **GATEWAYS)
async def payment_gateway_new(request: web.Request, scope):
    return _page(request, None, {"kind": "bkash", "mode": "sandbox", "fee_percent": "0.00", "enabled": "on"}, {})


@route("POST", "/payment-gateways/new", **GATEWAYS)
async def payment_gateway_create(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await svc.create_gateway(conn, scope, form, client_ip(request))
        except ValidationError as exc:
            return _page(request, None, _safe(form), exc.fields, 422, str(exc))
    return redirect(request, "/payment-gateways", _("Gateway added. Its credentials are stored sealed and are "
                                                     "never shown again."))


@route("GET", "/payment-gateways/{payment_gateway_id:\\d+}/edit", **GATEWAYS)
async def payment_gateway_edit(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        gateway = await svc.get_gateway(conn, scope, int(request.match_info["payment_gateway_id"]))
    form = {"kind": gateway["kind"], "label": gateway["label"], "mode": gateway["mode"],
            "base_url": gateway["base_url"], "fee_percent": gc.percent_text(gateway["fee_basis_points"]),
            "enabled": "on" if gateway["enabled"] else ""}
    return _page(request, gateway, form, {})


@route("POST", "/payment-gateways/{payment_gateway_id:\\d+}/edit", **GATEWAYS)
async def payment_gateway_update(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        gateway = await svc.get_gateway(conn, scope, int(request.match_info["payment_gateway_id"]))
        try:
            await svc.update_gateway(conn, scope, gateway["id"], form, client_ip(request))
        except ValidationError as exc:
            return _page(request, gateway, _safe(form), exc.fields, 422, str(exc))
    return redirect(request, "/payment-gateways", _("Gateway saved."))


# ---- the daily settlement report ----------------------------------------------------------------------

async def _settlement(request: web.Request, scope):
    filters = report.SettlementFilters.from_query(request.query, request["session"].timezone)
    async with request.app["pool"].acquire() as conn:
        rows = await report.daily_settlement(conn, scope, filters)
    return filters, rows


@route("GET", "/settlement", **GATEWAYS)
async def settlement_page(request: web.Request, scope):
    try:
        filters, rows = await _settlement(request, scope)
    except ValidationError as exc:
        return render(request, "error.html", status=422, title=_("Please correct the dates"), message=str(exc))
    return render(request, "settlement.html", rows=rows, totals=report.totals(rows), filters=filters,
                  kinds=gc.KINDS, query=request.query_string)


def _download(body: bytes, content_type: str, extension: str) -> web.Response:
    name = f"settlement-{clock.now():%Y%m%d-%H%M}.{extension}"
    return web.Response(body=body, content_type=content_type,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@route("GET", "/settlement.csv", **GATEWAYS)
async def settlement_csv(request: web.Request, scope):
    _, rows = await _settlement(request, scope)
    return _download(report.to_csv(rows), "text/csv", "csv")


@route("GET", "/settlement.xlsx", **GATEWAYS)
async def settlement_xlsx(request: web.Request, scope):
    _, rows = await _settlement(request, scope)
    return _download(report.to_xlsx(rows), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     "xlsx")
