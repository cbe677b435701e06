"""The scoped dashboard."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ALL_ROLES, may, route
from admin.web import render
from radbill import clock
from radbill.services import alerts, backups, dashboard, tickets


@route("GET", "/", roles=ALL_ROLES)
async def dashboard_page(request: web.Request, scope):
    session = request["session"]
    async with request.app["pool"].acquire() as conn:
        figures = await dashboard.load(conn, scope, clock.now(), session.timezone)
        open_alerts, _more = await alerts.list_alerts(conn, scope, per_page=5)
        open_count = await alerts.count_open(conn, scope) if open_alerts else 0
        ticket_counts = await tickets.counts(conn, scope)
        # the installation's backups are the business of whoever may open the system page (the group admin)
        last_backup = await backups.newest(conn) if may(scope, "/system") else None
    return render(request, "dashboard.html", d=figures, bars=dashboard.chart_bars(figures.daily), alerts=open_alerts,
                  open_alerts=open_count, tickets=ticket_counts, last_backup=last_backup)
