"""Who is asking: the portal's own customer sessions, route declarations and CSRF.

Every portal route declares who may use it (`public`, `customer` or `machine`, below); the middleware refuses an
undeclared one. A customer route runs with the customer's one-customer database scope (`customer_scoped`), so
row-level security lets its queries reach that customer's own rows and nothing else, whatever id a URL names.

The session cookie is the portal's own (`__Host-radbill_portal`, or `radbill_portal` on plain-http development
where browsers drop Secure cookies) and never the admin's: the two apps may share a host, and cookies do not care
about ports. Unsafe requests need the same origin and the session's CSRF token (a login form: a double-submit
cookie, as in the admin).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from radbill import i18n, proxies
from radbill.db.pool import SYSTEM, customer_scoped, scoped
from radbill.i18n import _
from radbill.services import portal_auth
from radbill.services.uploads import MAX_PHOTO_BYTES

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
LOGIN_CSRF_COOKIE = "radbill_portal_csrf"
LANG_COOKIE = "radbill_portal_lang"
ACCESS_ATTR = "portal_access"
UPLOAD_ATTR = "portal_upload"
# The app reads at most 64 KB per request (portal/app.py): a login form needs no more, and every request is read
# into memory. A route taking a photo may read the photo's limit plus room for its text fields and the multipart
# framing, so a photo a little over 2 MB still reaches check_photo and gets its own clear message with the form
# kept; anything larger is refused before it is read (413, a page saying the photo is too large).
UPLOAD_MAX_BYTES = MAX_PHOTO_BYTES + 256 * 1024


def public(handler):
    """Anyone (the login pages, the language switch)."""
    setattr(handler, ACCESS_ATTR, "public")
    return handler


def customer(handler):
    """A logged-in customer; the handler runs in that customer's database scope."""
    setattr(handler, ACCESS_ATTR, "customer")
    return handler


def machine(handler):
    """A server or a token-bearing link (gateway callbacks, pay links): no session, no cookie to forge; the
    handler proves what it needs itself (a pay-link token, a gateway verification)."""
    setattr(handler, ACCESS_ATTR, "machine")
    return handler


def upload(handler):
    """A customer form with a photo: its body may be UPLOAD_MAX_BYTES instead of the app's 64 KB."""
    setattr(handler, UPLOAD_ATTR, True)
    return handler


def cookie_name(app: web.Application) -> str:
    return "__Host-radbill_portal" if app["config"].cookie_secure else "radbill_portal"


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(cookie_name(request.app), token, path="/", httponly=True, samesite="Lax",
                        secure=request.app["config"].cookie_secure)


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(cookie_name(request.app), path="/")


def client_ip(request: web.Request) -> str | None:
    """The customer's address: the peer's, or X-Forwarded-For's when the peer is a configured trusted proxy
    (radbill/proxies.py; the walled garden names a customer by it)."""
    return proxies.source_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                                  request.app["trusted_proxies"])


def current(request: web.Request) -> portal_auth.PortalSession | None:
    return request.get("portal_session")


def _same_origin(request: web.Request) -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    return urlsplit(source).netloc == request.host


def _access_of(request: web.Request) -> str | None:
    handler = getattr(request.match_info, "handler", None)
    return getattr(handler, ACCESS_ATTR, None)


async def _choose_locale(request: web.Request, conn, session) -> None:
    """The language the customer picked on this device, else their operator's default, else the browser's; and,
    for a customer, their ISP's header (name, contact) for every page."""
    row = None
    if session is not None:
        row = await conn.fetchrow(
            "SELECT id, coalesce(business_name, name) AS name, phone, email, logo IS NOT NULL AS has_logo,"
            "       default_locale, bengali_digits,"
            # the nav offers data top-ups only to a customer whose package has a data cap
            "       (SELECT p.data_cap_bytes IS NOT NULL FROM customers c JOIN packages p ON p.id = c.package_id"
            "         WHERE c.id = $2) AS data_capped"
            "  FROM operators WHERE id = $1", session.operator_id, session.customer_id)
        request["portal_isp"] = row
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in i18n.LOCALES:
        i18n.set_locale(chosen, bool(row and row["bengali_digits"]))
    elif row is not None:
        i18n.set_locale(row["default_locale"], row["bengali_digits"])
    else:
        i18n.set_locale(i18n.negotiate(request.headers.get("Accept-Language")))


@web.middleware
async def access_control(request: web.Request, handler):
    """Cookie -> session, then the route's declaration, then CSRF for unsafe methods."""
    access = _access_of(request)
    if getattr(getattr(request.match_info, "handler", None), UPLOAD_ATTR, False):
        request = request.clone(client_max_size=UPLOAD_MAX_BYTES)
    if request.path.startswith("/static/") or access == "machine":
        return await handler(request)
    if access is None:
        if request.match_info.http_exception is not None:
            raise request.match_info.http_exception
        raise web.HTTPForbidden()
    with scoped(SYSTEM):  # the session lookup happens before anyone is known
        session = None
        token = request.cookies.get(cookie_name(request.app), "")
        if token:  # one checkout for the session and the page header: every logged-in request pays for it
            async with request.app["pool"].acquire() as conn:
                session = await portal_auth.load_session(conn, token)
                await _choose_locale(request, conn, session)
        else:
            await _choose_locale(request, None, None)
    request["portal_session"] = session
    if access == "public":
        await _public_csrf(request, session)
        with scoped(SYSTEM):
            response = await handler(request)
        if request.get("set_login_csrf"):
            response.set_cookie(LOGIN_CSRF_COOKIE, request["login_csrf"], path="/", httponly=True,
                                samesite="Strict", secure=request.app["config"].cookie_secure)
        return response
    if session is None:
        if request.method in UNSAFE:
            raise web.HTTPSeeOther("/login")
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}" if request.path != "/" else "/login")
    if request.method in UNSAFE:
        await _check_session_csrf(request, session)
    with customer_scoped(session.customer_id):
        return await handler(request)


async def _public_csrf(request: web.Request, session) -> None:
    """A login page's form: the same origin and the double-submit cookie's value (or, from a customer already
    logged in, their session's token)."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if request.method not in UNSAFE:
        if cookie:
            request["login_csrf"] = cookie
        else:
            request["login_csrf"], request["set_login_csrf"] = secrets.token_urlsafe(24), True
        return
    request["login_csrf"] = cookie
    form = await request.post() if request.content_type in (
        "application/x-www-form-urlencoded", "multipart/form-data") else {}
    sent = str(form.get("csrf_token") or "").encode()
    ok = bool(cookie) and hmac.compare_digest(sent, cookie.encode())
    if session is not None:
        ok = ok or hmac.compare_digest(sent, session.csrf_token.encode())
    if not _same_origin(request) or not ok:
        raise web.HTTPForbidden(text=_("Cross-site request refused: reload the page and try again."))


async def _check_session_csrf(request: web.Request, session) -> None:
    refused = web.HTTPForbidden(text=_("Cross-site request refused: reload the page and try again."))
    if not _same_origin(request):  # before the body is read: another site's upload is never taken in
        raise refused
    form = await request.post() if request.content_type in (
        "application/x-www-form-urlencoded", "multipart/form-data") else {}
    sent = request.headers.get("X-CSRF-Token") or form.get("csrf_token") or ""
    # compared as bytes: compare_digest refuses non-ASCII str, and a forged token must get a 403, not a 500
    if not hmac.compare_digest(str(sent).encode(), session.csrf_token.encode()):
        raise refused


def csrf_token(request: web.Request) -> str:
    """The token a form on this page must carry (the session's, or the login pages' double-submit value)."""
    session = current(request)
    return session.csrf_token if session is not None else request.get("login_csrf", "")
