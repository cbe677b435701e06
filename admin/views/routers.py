"""Routers (NAS): list with online sessions, add, edit, disable, delete, new secret (thin: services.routers).

A secret is rendered only in the response to the action that generated it; every other page renders router rows
that never held it."""

from __future__ import annotations

from aiohttp import web

from admin.routing import OPERATORS, route
from admin.web import client_ip, redirect, render
from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services import router_grants, routers
from radbill.validate import optional_id

ROUTERS = {"roles": OPERATORS, "permission": "routers.manage", "section": lazy_gettext("Routers (NAS)")}


def _id(request: web.Request) -> int:
    return int(request.match_info["router_id"])


def _form(form) -> dict:
    # the API password is write-only: never sent back, not even after a failed save
    return {k: str(v) for k, v in form.items() if k != "api_password"}


def _router_form(router) -> dict:
    form = {key: "" if router[key] is None else str(router[key]) for key in routers.COLUMNS}
    form["require_message_authenticator"] = "yes" if router["require_message_authenticator"] else "no"
    return form


async def _form_page(request, router, form, errors, status=200, message=None, conn=None):
    grants = []
    if router is not None and conn is not None:
        grants = await router_grants.grantable_accounts(conn, request["scope"], router["id"])
    return render(request, "routers_form.html", status=status, router=router, form=form, errors=errors,
                  message=message, types=routers.type_labels(), grants=grants)


@route("GET", "/routers", **ROUTERS)
async def routers_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        rows = await routers.list_routers(conn, scope)
    return render(request, "routers_list.html", routers=rows, type_names=dict(routers.type_labels()))


@route("GET", "/routers/new", **ROUTERS)
async def router_new(request: web.Request, scope):
    return await _form_page(request, None, {"coa_port": "3799", "type": "mikrotik",
                                            "require_message_authenticator": "yes"}, {})


@route("POST", "/routers/new", **ROUTERS)
async def router_create(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            router, secret = await routers.create_router(conn, scope, form, client_ip(request))
        except ValidationError as exc:
            return await _form_page(request, None, _form(form), exc.fields, 422, str(exc))
    return render(request, "routers_secret.html", router=router, secret=secret, created=True)


@route("GET", "/routers/{router_id:\\d+}/edit", **ROUTERS)
async def router_edit(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        router = await routers.get_router(conn, scope, _id(request))
        return await _form_page(request, router, _router_form(router), {}, conn=conn)


@route("POST", "/routers/{router_id:\\d+}/edit", **ROUTERS)
async def router_update(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        router = await routers.get_router(conn, scope, _id(request))
        try:
            router = await routers.update_router(conn, scope, router["id"], form, client_ip(request))
        except ValidationError as exc:
            return await _form_page(request, router, _form(form), exc.fields, 422, str(exc), conn=conn)
    if not router["require_message_authenticator"]:
        return redirect(request, f"/routers/{router['id']}/edit", _("Router saved, but it does not require "
                        "Message-Authenticator: it is open to Blast-RADIUS (CVE-2024-3596)."), "error")
    return redirect(request, "/routers", _("Router %(router)s saved. FreeRADIUS reloads its routers now.",
                                           router=router["shortname"]))


@route("POST", "/routers/{router_id:\\d+}/secret", **ROUTERS)
async def router_new_secret(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        router, secret = await routers.new_router_secret(conn, scope, _id(request), client_ip(request))
    return render(request, "routers_secret.html", router=router, secret=secret, created=False)


@route("POST", "/routers/{router_id:\\d+}/status", **ROUTERS)
async def router_status(request: web.Request, scope):
    form = await request.post()
    status = str(form.get("status", "") or "")  # the service checks it, after the 404 for a foreign id
    async with request.app["pool"].acquire() as conn:
        await routers.set_router_status(conn, scope, _id(request), status, client_ip(request))
    return redirect(request, "/routers", _("Router disabled: FreeRADIUS no longer answers it.")
                    if status == "disabled" else _("Router enabled."))


@route("POST", "/routers/{router_id:\\d+}/import-grants", **ROUTERS)
async def router_import_grant(request: web.Request, scope):
    form = await request.post()
    action = str(form.get("action", "") or "")
    async with request.app["pool"].acquire() as conn:
        username = await router_grants.set_import_grant(conn, scope, _id(request), optional_id(form.get("account_id")),
                                                        action, client_ip(request))
    back = f"/routers/{_id(request)}/edit#import-grants"
    return redirect(request, back, _("%(username)s may now import PPP secrets from this router.", username=username)
                    if action == "grant" else _("%(username)s may no longer import from this router.",
                                                username=username))


@route("POST", "/routers/{router_id:\\d+}/delete", **ROUTERS)
async def router_delete(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        try:
            await routers.delete_router(conn, scope, _id(request), client_ip(request))
        except ValidationError as exc:
            return redirect(request, "/routers", str(exc), "error")
    return redirect(request, "/routers", _("Router deleted."))
