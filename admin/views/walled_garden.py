"""The walled-garden settings of the caller's operator, with the MikroTik configuration generated from them."""

from __future__ import annotations

from aiohttp import web

from admin.routing import route
from admin.web import client_ip, redirect, render
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import walled_garden

ROLES = frozenset({"group_admin", "operator", "sub_operator"})  # like the ISP information: each operator its own


async def _page(request: web.Request, scope, form: dict | None = None, errors: dict | None = None,
                message: str | None = None, status: int = 200) -> web.Response:
    async with request.app["pool"].acquire() as conn:
        current = await walled_garden.settings_for(conn, scope)
        hosts = await walled_garden.gateway_hosts_for(conn, scope)
    own = current["own"]
    snippet = walled_garden.mikrotik_snippet(own, request.app["config"].portal_base_url, hosts)
    shown = form or {"pool": own.pool or "", "rate_limit": own.rate_limit,
                     "session_timeout": str(own.session_timeout), "network": own.network or ""}
    return render(request, "walled_garden.html", status=status, form=shown, errors=errors or {}, own=own,
                  inherited=current["inherited"], snippet=snippet, portal_url=request.app["config"].portal_base_url,
                  **({"message": message} if message else {}))


@route("GET", "/walled-garden", roles=ROLES, section="Walled garden")
async def walled_garden_page(request: web.Request, scope):
    return await _page(request, scope)


@route("POST", "/walled-garden", roles=ROLES, section="Walled garden")
async def walled_garden_submit(request: web.Request, scope):
    form = await request.post()
    fields = {k: str(form.get(k, "")) for k in ("pool", "rate_limit", "session_timeout", "network")}
    try:
        settings = walled_garden.validate_settings(**fields)
    except ValidationError as exc:
        return await _page(request, scope, fields, exc.fields, str(exc), status=422)
    async with request.app["pool"].acquire() as conn:
        await walled_garden.save_settings(conn, scope, settings, client_ip(request))
    return redirect(request, "/walled-garden",
                    _("Walled-garden settings saved. Copy the router configuration below to your MikroTik."))
