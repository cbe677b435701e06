"""Data top-ups (customer side): the packs the customer may buy, a confirmation with the price against their
advance balance, then the purchase through radbill.services.fair_usage (the same service staff use).

The packs and the purchase are the operator's rows, not the customer's: these handlers run as the system
(row-level scope SYSTEM) for the customer of the session only, never one a form names, as the packages page does.
The confirmation carries the customer's newest top-up id as a one-use token, so pressing Buy twice buys once.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from portal import session as ps
from portal.render import render
from radbill.billing.money import exponent
from radbill.db.pool import SYSTEM, scoped
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.localize import digits
from radbill.services import fair_usage, portal_home


def _pack_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["pack_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if not 0 < value < 2**63:
        raise web.HTTPNotFound()
    return value


def _plain_amount(minor: int, currency: str) -> str:
    """Minor units as the advance top-up form reads them back ("150.50"): no symbol, no grouping."""
    places = exponent(currency)
    whole, frac = divmod(minor, 10**places)
    return f"{whole}.{frac:0{places}d}" if places else str(whole)


@ps.customer
async def packs_page(request: web.Request) -> web.Response:
    session = ps.current(request)
    async with request.app["pool"].acquire() as conn:  # the customer's own scope: their account and balance
        facts = await portal_home.account(conn, session.scope)
    capped = facts["customer"]["data_cap_bytes"] is not None
    packs = []
    if capped:
        with scoped(SYSTEM):
            async with request.app["pool"].acquire() as conn:
                packs = await fair_usage.packs_for_customer(conn, session.customer_id)
    return render(request, "data_topups.html", facts=facts, capped=capped, packs=packs)


async def _confirm_page(request: web.Request, status: int = 200, error: str | None = None) -> web.Response:
    session = ps.current(request)
    with scoped(SYSTEM):
        async with request.app["pool"].acquire() as conn:
            try:
                quote = await fair_usage.quote_topup(conn, session.scope, session.customer_id, _pack_id(request))
            except ValidationError:  # no data cap (any more): nothing to sell
                raise NotFound(_("No such top-up pack.")) from None
            seen = await fair_usage.newest_topup_id(conn, session.customer_id)
            timezone = await conn.fetchval("SELECT o.timezone FROM customers c JOIN operators o"
                                           " ON o.id = c.operator_id WHERE c.id = $1", session.customer_id)
    currency = quote.pack["currency"].strip()
    # the window ends at an exclusive instant (midnight): the customer reads the last day it covers
    last_day = quote.window_end - timedelta(microseconds=1)
    return render(request, "data_topup.html", status=status, quote=quote, seen=seen, currency=currency,
                  timezone=timezone, last_day=last_day, error=error, short_amount=_plain_amount(quote.short_minor, currency))


@ps.customer
async def confirm_page(request: web.Request) -> web.Response:
    return await _confirm_page(request)


@ps.customer
async def buy(request: web.Request) -> web.Response:
    session = ps.current(request)
    form = await request.post()
    try:
        seen = int(str(form.get("seen", "")))
    except ValueError:
        return await _confirm_page(request, 400, _("This page is out of date. Open the data top-up page again."))
    with scoped(SYSTEM):
        async with request.app["pool"].acquire() as conn:
            try:
                topup, fresh = await fair_usage.buy_topup_once(conn, session.scope, session.customer_id,
                                                               _pack_id(request), seen, ip=ps.client_ip(request))
            except ValidationError:  # the balance fell short meanwhile, or a stale page: the page says which
                return await _confirm_page(request, 400, _("Nothing was bought. Check the figures below."))
    size = digits(fair_usage.gigabytes(topup["bytes"]))
    if not fresh:
        return render(request, "message.html", title=_("Already bought"), message=_(
            "You already bought %(pack)s (%(size)s GB) from this page. You were charged only once.",
            pack=topup["name"], size=size))
    return render(request, "message.html", title=_("Data added"), message=_(
        "Thank you. %(size)s GB more data is yours until the end of this data period.", size=size))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/data-topups", packs_page)
    app.router.add_get("/data-topups/{pack_id}", confirm_page)
    app.router.add_post("/data-topups/{pack_id}", buy)
