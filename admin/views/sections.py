"""Operator-side lists (routers, packages, billing profiles, VAT, SMS gateways, IP pools, logs, settings) and
the audit log. Sub-operators are refused these with a page that names them (packages: read-only list)."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ALL_ROLES, OPERATORS, route
from admin.web import render


async def _fetch(request, query: str, *args):
    async with request.app["pool"].acquire() as conn:
        return await conn.fetch(query, *args)


@route("GET", "/packages", roles=ALL_ROLES, permission="customers.view")
async def packages_page(request: web.Request, scope):
    """Sub-operators see the packages assigned to them (with their wholesale price); others their own."""
    rows = await _fetch(
        request,
        "SELECT p.*, pa.wholesale_price_minor, o.currency FROM packages p JOIN operators o ON o.id = p.operator_id"
        "  LEFT JOIN package_assignments pa ON pa.package_id = p.id AND pa.operator_id = $2"
        " WHERE p.status = 'active' AND (o.path <@ $1::ltree OR pa.operator_id IS NOT NULL)"
        " ORDER BY p.price_minor, p.name", scope.path, scope.operator_id)
    return render(request, "packages.html", packages=rows)


@route("GET", "/routers", roles=OPERATORS, permission="routers.manage", section="Routers (NAS)")
async def routers_page(request: web.Request, scope):
    rows = await _fetch(
        request,
        "SELECT n.id, n.nasname, n.shortname, n.type, n.coa_port, n.status, n.require_message_authenticator,"
        "       o.name AS operator_name,"
        "       (SELECT count(*) FROM radacct r WHERE r.nasipaddress = n.nasname::inet AND r.acctstoptime IS NULL)"
        "         AS online"
        "  FROM nas n JOIN operators o ON o.id = n.operator_id WHERE o.path <@ $1::ltree ORDER BY n.shortname",
        scope.path)
    return render(request, "routers.html", routers=rows)


@route("GET", "/billing-profiles", roles=OPERATORS, permission="packages.manage",
       section="Packages and billing-profile editing")
async def billing_profiles_page(request: web.Request, scope):
    rows = await _fetch(request, "SELECT b.* FROM billing_profiles b JOIN operators o ON o.id = b.operator_id"
                                 " WHERE o.path <@ $1::ltree ORDER BY b.name", scope.path)
    return render(request, "billing_profiles.html", profiles=rows)


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


@route("GET", "/sms/gateways", roles=OPERATORS, permission="sms.send", section="SMS gateways")
async def gateways_page(request: web.Request, scope):
    rows = await _fetch(request, "SELECT g.id, g.name, g.kind, g.is_default, g.active, g.created_at"
                                 "  FROM sms_gateways g JOIN operators o ON o.id = g.operator_id"
                                 " WHERE o.path <@ $1::ltree ORDER BY g.name", scope.path)
    return render(request, "gateways.html", gateways=rows)


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
