"""Operator-side read-only lists (VAT, IP pools, the RADIUS log, system settings) and the audit log.
Sub-operators are refused these with a page that names them."""

from __future__ import annotations

from aiohttp import web

from admin.routing import OPERATORS, route
from admin.web import render


async def _fetch(request, query: str, *args):
    async with request.app["pool"].acquire() as conn:
        return await conn.fetch(query, *args)


@route("GET", "/vat", roles=OPERATORS, permission="packages.manage", section="VAT")
async def vat_page(request: web.Request, scope):
    rows = await _fetch(request, "SELECT v.* FROM vat_profiles v JOIN operators o ON o.id = v.operator_id"
                                 " WHERE o.path <@ $1::ltree ORDER BY v.name", scope.path)
    return render(request, "vat.html", profiles=rows)


@route("GET", "/ip-pools", roles=OPERATORS, permission="packages.manage", section="IP pools")
async def ip_pools_page(request: web.Request, scope):
    rows = await _fetch(
        request,
        "SELECT p.ip_pool, count(DISTINCT p.id) AS packages, count(c.id) AS customers"
        "  FROM packages p JOIN operators o ON o.id = p.operator_id LEFT JOIN customers c ON c.package_id = p.id"
        " WHERE o.path <@ $1::ltree AND p.ip_pool IS NOT NULL GROUP BY p.ip_pool ORDER BY p.ip_pool", scope.path)
    return render(request, "ip_pools.html", pools=rows)


@route("GET", "/logs", roles=OPERATORS, permission="audit.view", section="Logs")
async def logs_page(request: web.Request, scope):
    """RADIUS authentication log (radpostauth) for the caller's customers."""
    rows = await _fetch(
        request,
        "SELECT r.authdate, r.username, r.reply, r.reason, host(r.nasipaddress) AS nas, r.callingstationid"
        "  FROM radpostauth r JOIN customers c ON c.username = r.username JOIN operators o ON o.id = c.operator_id"
        " WHERE o.path <@ $1::ltree ORDER BY r.authdate DESC LIMIT 200", scope.path)
    return render(request, "logs.html", rows=rows)


@route("GET", "/settings", roles=frozenset({"group_admin"}), section="System settings")
async def settings_page(request: web.Request, scope):
    return render(request, "settings.html", settings=request.app["config"].describe())


@route("GET", "/audit", roles=OPERATORS, permission="audit.view", section="Logs")
async def audit_page(request: web.Request, scope):
    """Who did what, when and from where, in the caller's subtree (entries without an operator: logins)."""
    rows = await _fetch(
        request,
        "SELECT l.at, l.action, l.object_kind, l.object_id, l.detail, host(l.ip) AS ip, a.username AS actor,"
        "       o.name AS operator_name"
        "  FROM audit_log l LEFT JOIN operators o ON o.id = l.operator_id LEFT JOIN accounts a ON a.id = l.account_id"
        " WHERE o.path <@ $1::ltree OR (l.operator_id IS NULL AND $2)"
        " ORDER BY l.id DESC LIMIT 200", scope.path, scope.role == "group_admin")
    return render(request, "audit.html", rows=rows)
