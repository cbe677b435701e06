"""The scoped dashboard."""

from __future__ import annotations

import json

from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.web import render
from radbill import clock
from radbill.services import dashboard, outbox, tickets


@route("GET", "/", roles=ALL_ROLES)
async def dashboard_page(request: web.Request, scope):
    session = request["session"]
    async with request.app["pool"].acquire() as conn:
        figures = await dashboard.load(conn, scope, clock.now(), session.timezone)
        alerts = [{**dict(a), "message": json.loads(a["detail"]).get("message", "")}
                  for a in await outbox.list_alerts(conn, scope, limit=5)]
        ticket_counts = await tickets.counts(conn, scope)
    return render(request, "dashboard.html", d=figures, bars=dashboard.chart_bars(figures.daily), alerts=alerts,
                  tickets=ticket_counts)
