"""Logging in and out (username + password, or mobile + SMS code), the language switch and the home page.

Thin handlers over radbill.services.portal_auth: every refusal reads the same whatever was wrong, so the portal
never tells which usernames or numbers exist.
"""

from __future__ import annotations

from aiohttp import web

from portal import session as ps
from portal.render import redirect, render
from radbill import i18n
from radbill.errors import NotFound
from radbill.i18n import _
from radbill.services import portal_auth, portal_home, reports


def _next_path(value: str) -> str:
    # only a local path: never an open redirect to another site
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


def _login_page(request: web.Request, status: int = 200, error: str | None = None, notice: str | None = None,
                mobile: str = "", code_sent: bool = False, username: str = "") -> web.Response:
    return render(request, "login.html", status=status, error=error, notice=notice, mobile=mobile,
                  code_sent=code_sent, username=username, next=_next_path(request.query.get("next", "/")))


def _logged_in(request: web.Request, token: str, next_path: str) -> web.Response:
    response = redirect(_next_path(next_path))
    ps.set_session_cookie(request, response, token)
    return response


@ps.public
async def login_page(request: web.Request) -> web.Response:
    if ps.current(request) is not None:
        raise web.HTTPSeeOther("/")
    return _login_page(request)


@ps.public
async def login_password(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("username", ""))
    async with request.app["pool"].acquire() as conn:
        try:
            token, _session = await portal_auth.login_with_password(
                conn, username, str(form.get("password", "")), ps.client_ip(request))
        except portal_auth.PortalLoginRefused as exc:
            return _login_page(request, 401, str(exc), username=username[:64])
    return _logged_in(request, token, str(form.get("next", "/")))


@ps.public
async def send_code(request: web.Request) -> web.Response:
    form = await request.post()
    mobile = str(form.get("mobile", ""))[:32]
    async with request.app["pool"].acquire() as conn:
        try:
            notice = await portal_auth.request_code(conn, mobile, ps.client_ip(request))
        except portal_auth.PortalLoginRefused as exc:
            return _login_page(request, 400, str(exc), mobile=mobile)
    return _login_page(request, notice=notice, mobile=mobile, code_sent=True)


@ps.public
async def login_code(request: web.Request) -> web.Response:
    form = await request.post()
    mobile = str(form.get("mobile", ""))[:32]
    async with request.app["pool"].acquire() as conn:
        try:
            token, _session = await portal_auth.login_with_code(conn, mobile, str(form.get("code", "")),
                                                                ps.client_ip(request))
        except portal_auth.PortalLoginRefused as exc:
            return _login_page(request, 401, str(exc), mobile=mobile, code_sent=True)
    return _logged_in(request, token, str(form.get("next", "/")))


@ps.public
async def switch(request: web.Request) -> web.Response:
    """Another connection on the number the customer's SMS code went to (portal_auth.switch decides which).
    Public because the new session is another customer's row; it needs a live session all the same."""
    session = ps.current(request)
    if session is None:
        raise web.HTTPSeeOther("/login")
    form = await request.post()
    try:
        customer_id = int(str(form.get("customer_id", "")))
    except ValueError:
        customer_id = 0
    async with request.app["pool"].acquire() as conn:
        try:
            token, _session = await portal_auth.switch(conn, session, customer_id, ps.client_ip(request))
        except portal_auth.PortalLoginRefused as exc:
            return render(request, "message.html", status=403, title=_("Switch connection"), message=str(exc))
    return _logged_in(request, token, "/")


@ps.customer
async def logout(request: web.Request) -> web.Response:
    async with request.app["pool"].acquire() as conn:
        await portal_auth.logout(conn, ps.current(request))
    response = redirect("/login")
    ps.clear_session_cookie(request, response)
    return response


@ps.public
async def language(request: web.Request) -> web.Response:
    """The language for this device (a cookie: a customer may share the phone, and the choice is the reader's)."""
    form = await request.post()
    chosen = str(form.get("locale", ""))
    response = redirect(_next_path(str(form.get("next", "/"))))
    if chosen in i18n.LOCALES:
        response.set_cookie(ps.LANG_COOKIE, chosen, path="/", max_age=365 * 86400, httponly=True, samesite="Lax",
                            secure=request.app["config"].cookie_secure)
    return response


@ps.customer
async def home(request: web.Request) -> web.Response:
    session = ps.current(request)
    async with request.app["pool"].acquire() as conn:
        try:
            facts = await portal_home.account(conn, session.scope)
        except NotFound:  # the customer was deleted while logged in
            response = redirect("/login")
            ps.clear_session_cookie(request, response)
            return response
        usage = await portal_home.usage(conn, facts)
        live = await portal_home.live_session(conn, session.customer_id)
        isp = await reports.isp_for(conn, session.operator_id)
        others = [row for row in await portal_auth.siblings(conn, session) if row["id"] != session.customer_id]
    return render(request, "home.html", **facts, usage=usage, live=live, isp_info=isp, other_connections=others)


@ps.customer
async def isp_logo(request: web.Request) -> web.Response:
    """The customer's ISP's logo (the one their documents print), with the type it was stored with."""
    session = ps.current(request)
    async with request.app["pool"].acquire() as conn:
        isp = await reports.isp_for(conn, session.operator_id)
        logo = await reports.isp_logo(conn, isp["id"]) if isp is not None else None
    if logo is None:
        raise web.HTTPNotFound()
    return web.Response(body=logo[0], content_type=logo[1], headers={"Cache-Control": "private, max-age=3600"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_password)
    app.router.add_post("/login/code/send", send_code)
    app.router.add_post("/login/code", login_code)
    app.router.add_post("/logout", logout)
    app.router.add_post("/switch", switch)
    app.router.add_post("/language", language)
    # "/" is portal/walled.py's front door: it shows `home` to a logged-in customer
    app.router.add_get("/isp/logo", isp_logo)
