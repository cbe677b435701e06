"""The front door (GET /): a logged-in customer's home; else, for a suspended or expired customer whose open
session has this source address (the walled garden's residents, sent here by the router's proxy), "your account
is suspended: pay ৳X now" without a login; anyone else goes to the login page.

The address is the peer's, or X-Forwarded-For's only from a configured trusted proxy (portal/session.client_ip).
The page shows only what paying needs (ISP, masked username, amount); the Pay button makes (or reuses) a pay link
for the customer's open bills and continues on the ordinary pay page, so the money takes the one payment path.
"""

from __future__ import annotations

from aiohttp import web

from portal import account
from portal import session as ps
from portal.render import redirect, render
from radbill.db.pool import customer_scoped
from radbill.payments import links
from radbill.payments.settle import mask_username
from radbill.services import walled_garden


async def _walled(request: web.Request, conn) -> dict | None:
    """The walled customer at the request's source address, with the amount their Pay button asks for."""
    found = await walled_garden.customer_by_address(conn, ps.client_ip(request) or "")
    if found is None:
        return None
    isp = await conn.fetchrow("SELECT coalesce(business_name, name) AS name, phone FROM operators WHERE id = $1",
                              found["operator_id"])
    return {**found, "due_minor": await links.open_bills_due(conn, found["customer_id"]), "isp_name": isp["name"],
            "isp_phone": isp["phone"]}


@ps.public
async def front_door(request: web.Request) -> web.Response:
    session = ps.current(request)
    if session is not None:
        with customer_scoped(session.customer_id):
            return await account.home(request)
    async with request.app["pool"].acquire() as conn:
        walled = await _walled(request, conn)
    if walled is None:
        return redirect("/login")
    return render(request, "walled.html", state=walled["state"], amount_minor=walled["due_minor"],
                  currency=walled["currency"].strip(), username=mask_username(walled["username"]),
                  isp_name=walled["isp_name"], isp_phone=walled["isp_phone"])


@ps.public
async def walled_pay(request: web.Request) -> web.Response:
    """The walled page's Pay button: the address is asked again (a form names no customer), then the pay link."""
    async with request.app["pool"].acquire() as conn:
        walled = await _walled(request, conn)
        if walled is None or walled["due_minor"] <= 0:
            return redirect("/")
        token = await links.create_pay_link(conn, walled["customer_id"], None)
    return redirect(f"/pay/{token}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", front_door)
    app.router.add_post("/walled-garden/pay", walled_pay)
