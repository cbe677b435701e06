"""API clients: list with last use, create (the token is shown once, on the page that made it), revoke.

Operators and the group admin manage them; a sub-operator gets the "ask your parent operator" page. A client
acts on its creator's subtree or one sub-operator's, with at most its creator's permissions."""

from __future__ import annotations

from aiohttp import web

from admin import confirm
from admin.routing import ADMINS, route
from admin.web import client_ip, redirect, render
from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services import api_clients
from radbill.services.auth import MANAGER_PERMISSIONS

CLIENTS = {"roles": ADMINS, "section": lazy_gettext("API clients")}


async def _page(request: web.Request, scope, conn, form: dict, errors: dict, status: int = 200,
                message: str | None = None) -> web.Response:
    scopes = await conn.fetch("SELECT id, name FROM operators WHERE (id = $1 OR parent_id = $1)"
                              " AND path <@ $2::ltree ORDER BY id = $1 DESC, lower(name)", scope.operator_id,
                              scope.path)
    permissions = {p: MANAGER_PERMISSIONS[p] for p in api_clients.grantable(scope)}
    return render(request, "api_clients.html", status=status, clients=await api_clients.list_clients(conn, scope),
                  scopes=scopes, permissions=permissions, form=form, errors=errors, message=message,
                  all_permissions=MANAGER_PERMISSIONS)


@route("GET", "/api-clients", **CLIENTS)
async def clients_page(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        return await _page(request, scope, conn, {"permissions": ["customers.view"]}, {})


@route("POST", "/api-clients", **CLIENTS)
async def client_create(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            client, token = await api_clients.create_client(conn, scope, form, client_ip(request))
        except ValidationError as exc:
            kept = {"name": form.get("name", ""), "scope_operator_id": form.get("scope_operator_id", ""),
                    "allowed_cidrs": form.get("allowed_cidrs", ""), "permissions": form.getall("permissions", [])}
            return await _page(request, scope, conn, kept, exc.fields, 422, str(exc))
    # the only response that ever carries the token: no-store (set for every page) keeps it out of caches
    return render(request, "api_client_token.html", client=client, token=token,
                  auth_header="Authorization: Bearer <token>")


@route("POST", "/api-clients/{api_client_id:\\d+}/revoke", **CLIENTS)
async def client_revoke(request: web.Request, scope):
    client_id = int(request.match_info["api_client_id"])
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        client = await api_clients.get_client(conn, scope, client_id)  # a foreign id is 404 before anything
        if not confirm.confirmed(form):
            return confirm.ask(request, title=_("Revoke API client %(name)s?", name=client["name"]),
                               consequences=[_("Every call made with its token is refused from now on."),
                                             _("This cannot be undone: to connect again, create a new client.")],
                               action=f"/api-clients/{client_id}/revoke", form=form, yes=_("Yes, revoke"),
                               back="/api-clients")
        await api_clients.revoke_client(conn, scope, client_id, client_ip(request))
    return redirect(request, "/api-clients", _("API client %(name)s revoked.", name=client["name"]))
