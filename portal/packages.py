"""Change package (customer side): the operator's packages with prices and speeds, a preview of a choice (the
admin's words and figures), then a request to staff or an online payment, per operator setting
(radbill.services.package_change_portal has the rules; these handlers only parse and render)."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from portal import session as ps
from portal.render import redirect, render
from portal.views import GATEWAY_NAMES, csp
from radbill.db.pool import SYSTEM, scoped
from radbill.errors import NotFound, RadbillError, ValidationError
from radbill.i18n import _
from radbill.payments.flow import start_payment
from radbill.payments.gateway import ReturnUrls
from radbill.payments.settle import gateways_for
from radbill.services import package_change, package_change_text
from radbill.services import package_change_portal as pcp
from radbill.validate import optional_id


def _package_id(request: web.Request) -> int:
    value = optional_id(request.match_info["package_id"])
    if value is None:
        raise web.HTTPNotFound()
    return value


async def _plan(request: web.Request, conn, package_id: int):
    """The preview for the logged-in customer. Runs as the system inside the customer's own operator: the
    catalogue and billing tables are not the customer's rows, and the customer comes from the session only."""
    scope, setting = await pcp.operator_scope(conn, ps.current(request).customer_id)
    try:
        plan = await package_change.preview_change(conn, scope, ps.current(request).customer_id, package_id)
    except ValidationError as exc:
        raise NotFound(str(exc)) from None  # not sellable to this customer: as if it did not exist
    return scope, setting, plan


@ps.customer
async def packages_page(request: web.Request) -> web.Response:
    with scoped(SYSTEM):
        async with request.app["pool"].acquire() as conn:
            _scope, setting = await pcp.operator_scope(conn, ps.current(request).customer_id)
            rows = await pcp.packages_for_customer(conn, ps.current(request).customer_id)
            currency = (await conn.fetchval("SELECT o.currency FROM customers c JOIN operators o"
                                            " ON o.id = c.operator_id WHERE c.id = $1",
                                            ps.current(request).customer_id)).strip()
    return render(request, "packages.html", packages=rows, setting=setting, currency=currency,
                  rate=package_change.rate_of)


@ps.customer
async def package_page(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    with scoped(SYSTEM):
        async with request.app["pool"].acquire() as conn:
            _scope, setting, plan = await _plan(request, conn, _package_id(request))
            gateways = await gateways_for(conn, plan.customer["operator_id"]) if pcp.pays_online(setting, plan) else []
    response = render(request, "package.html", status=status, plan=plan, setting=setting, error=error,
                      sentences=package_change_text.sentences(plan, for_customer=True),
                      pays_online=pcp.pays_online(setting, plan),
                      gateways=[{"id": g["id"], "name": GATEWAY_NAMES.get(g["kind"], g["kind"])} for g in gateways])
    # the pay form's redirect leads to the gateway: form-action must allow its origin (as on the pay page)
    origins = {f"{urlsplit(g['base_url']).scheme}://{urlsplit(g['base_url']).netloc}" for g in gateways}
    response.headers["Content-Security-Policy"] = csp(" ".join(sorted(origins)))
    return response


@ps.customer
async def package_request(request: web.Request) -> web.Response:
    with scoped(SYSTEM):
        async with request.app["pool"].acquire() as conn:
            _scope, setting, plan = await _plan(request, conn, _package_id(request))
    if setting == "off":
        raise web.HTTPNotFound()
    async with request.app["pool"].acquire() as conn:  # the customer's own scope: the ticket is theirs
        ticket = await pcp.request_change(conn, ps.current(request).scope, plan, ps.client_ip(request))
    return render(request, "message.html", title=_("Request sent"), message=_(
        "Your request to change to %(package)s was sent to your provider (ticket %(ticket)s). Staff will contact "
        "you; nothing changes until they apply it.", package=plan.package["name"], ticket=ticket["id"]))


@ps.customer
async def package_pay(request: web.Request) -> web.Response:
    form = await request.post()
    gateway_id = optional_id(str(form.get("gateway", "")))
    package_id = _package_id(request)
    with scoped(SYSTEM):
        async with request.app["pool"].acquire() as conn:
            scope, setting, plan = await _plan(request, conn, package_id)
            if not pcp.pays_online(setting, plan) or gateway_id is None:
                return await package_page(request, _("Choose how you want to pay."), 400)
            try:
                intent = await pcp.start_paid_change(conn, scope, plan.customer["id"], package_id, gateway_id)
            except (NotFound, ValidationError):
                return await package_page(request, _("Choose how you want to pay."), 400)
            base = request.app["config"].portal_base_url
            back = f"{base}/pay/return/{gateway_id}"
            urls = ReturnUrls(success=back, fail=back, cancel=back, notify=f"{base}/pay/notify/{gateway_id}")
            try:
                started = await start_payment(conn, intent, urls, request.app["http"])
            except RadbillError:
                return await package_page(request, _(
                    "The payment service is not answering. Wait a minute, then press Pay again."), 503)
    return redirect(started.redirect_url)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/packages", packages_page)
    app.router.add_get("/packages/{package_id}", package_page)
    app.router.add_post("/packages/{package_id}/request", package_request)
    app.router.add_post("/packages/{package_id}/pay", package_pay)
