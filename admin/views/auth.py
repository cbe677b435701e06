"""Login (password, then TOTP when enabled), forced password change, logout."""

from __future__ import annotations

from aiohttp import web

from admin.routing import ALL_ROLES, route
from admin.web import (
    clear_session_cookie,
    client_ip,
    csrf_login_ok,
    redirect,
    render,
    see_other,
    set_session_cookie,
)
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import auth


def _safe_next(value: str | None) -> str:
    # only local paths: never an open redirect
    return value if value and value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


@route("GET", "/login", public=True)
async def login_page(request: web.Request, scope):
    if request.get("session") is not None and request["session"].stage == "full":
        raise web.HTTPSeeOther("/")
    return render(request, "login.html", next=_safe_next(request.query.get("next")), form={}, error=None)


@route("POST", "/login", public=True)
async def login_submit(request: web.Request, scope):
    form = await request.post()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    next_url = _safe_next(form.get("next"))
    if not await csrf_login_ok(request, form):
        return render(request, "login.html", status=403, next=next_url, form={"username": username},
                      error=_("The form expired. Please try again."))
    async with request.app["pool"].acquire() as conn:
        try:
            token, stage = await auth.login(conn, username, password, client_ip(request),
                                            request.headers.get("User-Agent"))
        except auth.LoginRefused as exc:
            return render(request, "login.html", status=401, next=next_url, form={"username": username},
                          error=str(exc))
    target = {"totp": "/login/totp", "change_password": "/password/change"}.get(stage, next_url)
    response = see_other(target)
    set_session_cookie(request, response, token)
    return response


@route("GET", "/login/totp", roles=ALL_ROLES, stages=("totp",))
async def totp_page(request: web.Request, scope):
    return render(request, "login_totp.html", error=None)


@route("POST", "/login/totp", roles=ALL_ROLES, stages=("totp",))
async def totp_submit(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            token = await auth.verify_login_totp(conn, request["session"], str(form.get("code", "")),
                                                 client_ip(request))
        except auth.LoginRefused as exc:
            return render(request, "login_totp.html", status=401, error=str(exc))
    response = see_other("/")
    set_session_cookie(request, response, token)
    return response


@route("GET", "/password/change", roles=ALL_ROLES, stages=("change_password", "full"))
async def password_page(request: web.Request, scope):
    return render(request, "password.html", errors={}, forced=request["session"].stage == "change_password")


@route("POST", "/password/change", roles=ALL_ROLES, stages=("change_password", "full"))
async def password_submit(request: web.Request, scope):
    form = await request.post()
    async with request.app["pool"].acquire() as conn:
        try:
            token = await auth.change_password(conn, request["session"], str(form.get("current_password", "")),
                                               str(form.get("new_password", "")),
                                               str(form.get("confirm_password", "")), client_ip(request))
        except ValidationError as exc:
            return render(request, "password.html", status=422, errors=exc.fields, message=str(exc),
                          forced=request["session"].stage == "change_password")
    response = redirect(request, "/", _("Your password was changed. Other sessions were signed out."))
    set_session_cookie(request, response, token)
    return response


@route("POST", "/logout", roles=ALL_ROLES, stages=("totp", "change_password", "full"))
async def logout(request: web.Request, scope):
    async with request.app["pool"].acquire() as conn:
        await auth.logout(conn, request["session"], client_ip(request))
    response = see_other("/login")
    clear_session_cookie(request, response)
    return response
