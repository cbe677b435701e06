"""Logins: the group admin creates operators, an operator its sub-operators and managers."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ADMINS, route
from admin.web import client_ip, redirect, render
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import auth


async def _accounts(request, scope):
    async with request.app["pool"].acquire() as conn:
        return await auth.list_accounts(conn, scope)


@route("GET", "/accounts", roles=ADMINS)
async def accounts_page(request: web.Request, scope):
    return render(request, "accounts.html", accounts=await _accounts(request, scope), issued=None)


@route("GET", "/accounts/new", roles=ADMINS)
async def new_account_page(request: web.Request, scope):
    return render(request, "account_new.html", form={}, errors={}, permissions=auth.MANAGER_PERMISSIONS,
                  child_kind=auth.CHILD_KIND[scope.role])


@route("POST", "/accounts/new", roles=ADMINS)
async def new_account_submit(request: web.Request, scope):
    form = await request.post()
    kind = form.get("kind")
    username, full_name = str(form.get("username", "")).strip(), str(form.get("full_name", ""))
    async with request.app["pool"].acquire() as conn:
        try:
            if kind == "manager":
                _login, password = await auth.create_manager(conn, scope, username, full_name,
                                                        [str(p) for p in form.getall("permissions", [])],
                                                        client_ip(request))
            else:
                _login, password = await auth.create_operator_with_login(conn, scope, str(form.get("name", "")), username,
                                                                    full_name, client_ip(request))
        except ValidationError as exc:
            return render(request, "account_new.html", status=422, form=dict(form), errors=exc.fields,
                          message=str(exc), permissions=auth.MANAGER_PERMISSIONS,
                          child_kind=auth.CHILD_KIND[scope.role])
    # shown once; the new user must change it at first login
    return render(request, "accounts.html", accounts=await _accounts(request, scope),
                  issued={"username": username, "password": password})


@route("POST", "/accounts/{account_id:\\d+}/status", roles=ADMINS)
async def account_status(request: web.Request, scope):
    form = await request.post()
    status = str(form.get("status", "") or "")  # the service checks it, after the 404 for a foreign id
    async with request.app["pool"].acquire() as conn:
        await auth.set_account_status(conn, scope, int(request.match_info["account_id"]), status, client_ip(request))
    return redirect(request, "/accounts", _("Login disabled: its sessions ended.") if status == "disabled"
                    else _("Login enabled."))


@route("POST", "/accounts/{account_id:\\d+}/reset-password", roles=ADMINS)
async def account_reset(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        account = await auth.get_account(conn, scope, int(request.match_info["account_id"]))
        password = await auth.reset_password(conn, scope, account["id"], client_ip(request))
    return render(request, "accounts.html", accounts=await _accounts(request, scope),
                  issued={"username": account["username"], "password": password})
