"""IP pools: list with usage, add, edit, delete (thin: services.ip_pools)."""

from __future__ import annotations

from aiohttp import web

from admin.routing import OPERATORS, route
from admin.web import client_ip, redirect, render
from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services import ip_pools, routers

POOLS = {"roles": OPERATORS, "permission": "packages.manage", "section": lazy_gettext("IP pools")}


def _id(request: web.Request) -> int:
    return int(request.match_info["pool_id"])


async def _form_page(request, conn, scope, pool, form, errors, status=200, message=None):
    return render(request, "ip_pool_form.html", status=status, pool=pool, form=form, errors=errors, message=message,
                  routers=await routers.list_routers(conn, scope))


@route("GET", "/ip-pools", **POOLS)
async def ip_pools_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        pools = await ip_pools.list_pools(conn, scope)
    return render(request, "ip_pools.html", pools=pools)


@route("GET", "/ip-pools/new", **POOLS)
async def ip_pool_new(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        return await _form_page(request, conn, scope, None, {}, {})


@route("POST", "/ip-pools/new", **POOLS)
async def ip_pool_create(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            await ip_pools.create_pool(conn, scope, form, client_ip(request))
        except ValidationError as exc:
            return await _form_page(request, conn, scope, None, dict(form), exc.fields, 422, str(exc))
    return redirect(request, "/ip-pools", _("Pool %(pool)s added.", pool=str(form.get("name", "")).strip()))


@route("GET", "/ip-pools/{pool_id:\\d+}/edit", **POOLS)
async def ip_pool_edit(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        pool = await ip_pools.get_pool(conn, scope, _id(request))
        form = {"name": pool["name"], "range": f"{pool['start_ip']}-{pool['end_ip']}",
                "nas_id": pool["nas_id"] or "", "description": pool["description"] or ""}
        return await _form_page(request, conn, scope, pool, form, {})


@route("POST", "/ip-pools/{pool_id:\\d+}/edit", **POOLS)
async def ip_pool_update(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        pool = await ip_pools.get_pool(conn, scope, _id(request))
        try:
            await ip_pools.update_pool(conn, scope, pool["id"], form, client_ip(request))
        except ValidationError as exc:
            return await _form_page(request, conn, scope, pool, dict(form), exc.fields, 422, str(exc))
    return redirect(request, "/ip-pools", _("Pool %(pool)s saved.", pool=str(form.get("name", "")).strip()))


@route("POST", "/ip-pools/{pool_id:\\d+}/delete", **POOLS)
async def ip_pool_delete(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        name = await ip_pools.delete_pool(conn, scope, _id(request), client_ip(request))
    return redirect(request, "/ip-pools", _("Pool %(pool)s deleted; customers keep their addresses.", pool=name))
