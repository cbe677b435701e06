"""The scoped dashboard."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.web import render
from radbill import clock
from radbill.services import dashboard


@route("GET", "/", roles=ALL_ROLES)
async def dashboard_page(request: web.Request, scope):
    session = request["session"]
    async with request.app["pool"].acquire() as conn:
        figures = await dashboard.load(conn, scope, clock.now(), session.timezone)
    return render(request, "dashboard.html", d=figures, bars=dashboard.chart_bars(figures.daily))
