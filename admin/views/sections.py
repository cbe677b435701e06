"""Operator-side read-only lists (the RADIUS log, system settings) and the audit log.
Sub-operators are refused these with a page that names them."""

from __future__ import annotations

from aiohttp import web

from admin.routing import OPERATORS, route
from admin.web import render
from radbill.i18n import lazy_gettext
from radbill.services import overview


async def _load(request: web.Request, reader, scope):
    async with request.app["pool"].acquire() as conn:
        return await reader(conn, scope)


@route("GET", "/logs", roles=OPERATORS, permission="audit.view", section=lazy_gettext("Logs"))
async def logs_page(request: web.Request, scope):
    return render(request, "logs.html", rows=await _load(request, overview.radius_log, scope))


@route("GET", "/settings", roles=frozenset({"group_admin"}), section=lazy_gettext("System settings"))
async def settings_page(request: web.Request, scope):
    return render(request, "settings.html", settings=request.app["config"].describe())


@route("GET", "/audit", roles=OPERATORS, permission="audit.view", section=lazy_gettext("Logs"))
async def audit_page(request: web.Request, scope):
    return render(request, "audit.html", rows=await _load(request, overview.audit_entries, scope))
