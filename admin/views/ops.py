"""/healthz and /metrics for monitoring (JSON 200/503; Prometheus text), and the group admin's system page.

Served by the admin app rather than a listener of its own: it is already supervised, has a database pool and a
port, and a monitoring system that can reach the admin can reach these. A scraper presents RADBILL_METRICS_TOKEN
(`Authorization: Bearer ...`); a request from loopback needs none, unless a proxy forwarded it (then the proxy's
loopback address says nothing about the real caller)."""

from __future__ import annotations

import hmac
import ipaddress
import os

from aiohttp import web

from admin.routing import route
from admin.web import render
from radbill import health, metrics
from radbill.db.pool import SYSTEM, scoped
from radbill.i18n import _, lazy_gettext
from radbill.services import backups, ops_report


def monitor_allowed(request: web.Request) -> bool:
    """The one rule for /healthz and /metrics: the metrics token, or a direct loopback caller."""
    token = os.environ.get("RADBILL_METRICS_TOKEN", "")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return True
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _refuse() -> web.Response:
    return web.json_response({"error": _("Give the metrics token (Authorization: Bearer RADBILL_METRICS_TOKEN) or "
                                         "ask from this machine.")}, status=401)


@route("GET", "/healthz", machine=True)
async def healthz(request: web.Request, _scope):
    if not monitor_allowed(request):
        return _refuse()
    checks = await ops_report.checks_from_pool(request.app["pool"], health.HealthSettings.from_env())
    report = health.as_json(checks)
    return web.json_response(report, status=200 if report["ok"] else 503)


@route("GET", "/metrics", machine=True)
async def metrics_page(request: web.Request, _scope):
    if not monitor_allowed(request):
        return _refuse()
    body = await ops_report.metrics_from_pool(request.app["pool"], health.HealthSettings.from_env())
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


@route("GET", "/system", roles=frozenset({"group_admin"}), section=lazy_gettext("System"))
async def system_page(request: web.Request, scope):
    checks = await ops_report.checks_from_pool(request.app["pool"], health.HealthSettings.from_env())
    with scoped(SYSTEM):  # backups are the installation's, not a tenant's
        async with request.app["pool"].acquire() as conn:
            rows = await conn.fetch("SELECT * FROM backups ORDER BY started_at DESC LIMIT 20")
    nodes = next((c.figures for c in checks if c.name == "radius_nodes"), {})  # health.radius_node_states
    return render(request, "system.html", checks=checks, backups=rows, directory=backups.backup_dir(), nodes=nodes)
