"""Alerts: the open and acknowledged alert groups the caller can act on (radbill.services.alerts), and
Acknowledge. Who sees and acknowledges which kind is decided by alerts.can_act alone."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.web import client_ip, redirect, render
from radbill.i18n import _
from radbill.services import alerts
from radbill.validate import optional_id


@route("GET", "/alerts", roles=ALL_ROLES)
async def alerts_page(request: web.Request, scope):
    acknowledged = request.query.get("show") == "acknowledged"
    page = optional_id(request.query.get("page")) or 1
    async with request.app["pool"].acquire() as conn:
        rows, more = await alerts.list_alerts(conn, scope, acknowledged=acknowledged, page=page)
        open_count = await alerts.count_open(conn, scope)
    return render(request, "alerts.html", alerts=rows, more=more, page=page, acknowledged=acknowledged,
                  open_count=open_count)


@route("POST", "/alerts/{alert_id:\\d+}/acknowledge", roles=ALL_ROLES)
async def acknowledge(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:  # a foreign alert, or one not the caller's to act on: 404
        alert = await alerts.acknowledge(conn, scope, int(request.match_info["alert_id"]), ip=client_ip(request))
    back = "/" if request.query.get("from") == "dashboard" else "/alerts"
    return redirect(request, back, _("Alert acknowledged: %(title)s. It comes back if it happens again.",
                                     title=alert["title"]))
