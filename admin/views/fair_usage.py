"""Fair usage in the admin: data top-up packs (catalogue) and buying a top-up for a customer (thin: the service
radbill.services.fair_usage; the usage panel on the customer page is filled by `customer_usage`)."""

from __future__ import annotations

from aiohttp import web

from admin import confirm
from admin.routing import ALL_ROLES, OPERATORS, route
from admin.web import client_ip, redirect, render
from radbill import clock
from radbill.billing.periods import cap_window
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.localize import money
from radbill.services import fair_usage
from radbill.services.customers import get_customer
from radbill.validate import optional_id

PACKS = {"roles": OPERATORS, "permission": "packages.manage",
         "section": lazy_gettext("Packages and billing-profile editing")}
BUY = {"roles": ALL_ROLES, "permission": "billing.collect"}


async def customer_usage(conn, scope, customer) -> dict:
    """What the customer page's usage panel shows: the window's use per day and in total, the tier, the packs."""
    month = cap_window("calendar_month", None, clock.now(), customer["timezone"])
    summary = await fair_usage.usage_summary(conn, scope, customer["id"], *month)
    packs = await fair_usage.packs_for_customer(conn, customer["id"]) if summary.tiers else []
    peak = max((d.bytes for d in summary.days), default=0)
    return {"usage": summary, "usage_peak": peak, "topup_packs": packs, "gigabytes": fair_usage.gigabytes}


@route("GET", "/topup-packs", **PACKS)
async def packs_page(request: web.Request, scope, form=None, errors=None, status=200, message=None):
    async with request.app["pool"].acquire() as conn:
        rows = await fair_usage.list_packs(conn, scope)
    return render(request, "topup_packs.html", status=status, packs=rows, form=form or {}, errors=errors or {},
                  message=message, gigabytes=fair_usage.gigabytes)


@route("POST", "/topup-packs", **PACKS)
async def pack_create(request: web.Request, scope):
    form = {k: str(v) for k, v in (await request.post()).items()}
    async with request.app["pool"].acquire() as conn:
        try:
            await fair_usage.create_pack(conn, scope, form, client_ip(request))
        except ValidationError as exc:
            return await packs_page(request, scope, form, exc.fields, 422, str(exc))
    return redirect(request, "/topup-packs", _("Top-up pack %(name)s created.", name=form.get("name", "")))


@route("POST", "/topup-packs/{pack_id:\\d+}/status", **PACKS)
async def pack_status(request: web.Request, scope):
    active = (await request.post()).get("active") == "yes"
    async with request.app["pool"].acquire() as conn:
        await fair_usage.set_pack_active(conn, scope, int(request.match_info["pack_id"]), active, client_ip(request))
    return redirect(request, "/topup-packs",
                    _("The pack is on sale again.") if active else _("The pack is retired: no new sales."))


@route("POST", "/customers/{customer_id:\\d+}/topup", **BUY)
async def topup_buy(request: web.Request, scope):
    """Buy a top-up for the customer from their advance balance, after a confirmation page."""
    customer_id = int(request.match_info["customer_id"])
    form = await request.post()
    back = f"/customers/{customer_id}#usage"
    async with request.app["pool"].acquire() as conn:
        customer = await get_customer(conn, scope, customer_id)
        pack_id = optional_id(form.get("pack_id"))
        pack = next((p for p in await fair_usage.packs_for_customer(conn, customer_id) if p["id"] == pack_id), None)
        if pack is None:
            raise NotFound(_("No such top-up pack."))
        if not confirm.confirmed(form):
            return confirm.ask(
                request, title=_("Buy %(pack)s for %(name)s?", pack=pack["name"], name=customer["name"]),
                consequences=[_("%(price)s is taken from the customer's advance balance and recorded in the ledger.",
                                price=money(pack["price_minor"], pack["currency"])),
                              _("%(size)s GB is added to this data-cap period only; it ends with the period.",
                                size=fair_usage.gigabytes(pack["bytes"])),
                              _("A throttled session gets its faster speed back within seconds.")],
                action=f"/customers/{customer_id}/topup", form=form, yes=_("Buy the top-up"), back=back)
        try:
            await fair_usage.buy_topup(conn, scope, customer_id, pack_id, ip=client_ip(request))
        except ValidationError as exc:
            return redirect(request, back, str(exc), "error")
    return redirect(request, back, _("Top-up %(pack)s bought for %(name)s.", pack=pack["name"], name=customer["name"]))
