"""The admin's request pipeline: security headers, session -> Scope, route access, CSRF, errors, rendering."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from urllib.parse import urlsplit

import asyncpg
import jinja2
from aiohttp import web

from admin.routing import access_of, operator_only_sections, permits
from radbill import i18n
from radbill.db.pool import SYSTEM, scoped
from radbill.errors import (
    NotFound,
    PermissionDenied,
    RadbillError,
    validation_error_from_database,
)
from radbill.i18n import _
from radbill.services import audit
from radbill.services import auth as auth_service

log = logging.getLogger("radbill.admin")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def client_ip(request: web.Request) -> str | None:
    """The peer address (radbill listens on loopback or behind a proxy that the operator configures)."""
    return request.remote or None


def cookie_name(app: web.Application) -> str:
    # __Host- needs Secure, and browsers drop Secure cookies on plain-http localhost
    return "__Host-radbill" if app["config"].cookie_secure else "radbill_session"


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(cookie_name(request.app), token, path="/", httponly=True, samesite="Lax",
                        secure=request.app["config"].cookie_secure)


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(cookie_name(request.app), path="/")


# ---- flash messages: a signed cookie read once --------------------------------------------------------

def _sign(app: web.Application, payload: bytes) -> str:
    mac = hmac.new(app["config"].secret_key.reveal().encode(), payload, hashlib.sha256).hexdigest()[:32]
    return base64.urlsafe_b64encode(payload).decode() + "." + mac


def _unsign(app: web.Application, value: str) -> bytes | None:
    try:
        encoded, mac = value.rsplit(".", 1)
        payload = base64.urlsafe_b64decode(encoded.encode())
    except (ValueError, TypeError):
        return None
    expected = _sign(app, payload).rsplit(".", 1)[1]
    return payload if hmac.compare_digest(mac.encode(), expected.encode()) else None


FLASH_MAX_CHARS = 400  # a message may quote what was typed; a cookie over ~4 KB is dropped or breaks the reply


def flash(response: web.StreamResponse, request: web.Request, message: str, kind: str = "ok") -> None:
    if len(message) > FLASH_MAX_CHARS:
        message = message[:FLASH_MAX_CHARS - 1] + "…"
    response.set_cookie("radbill_flash", _sign(request.app, json.dumps([kind, message]).encode()), path="/",
                        httponly=True, samesite="Lax", secure=request.app["config"].cookie_secure, max_age=60)


def see_other(location: str) -> web.Response:
    """A 303 to a local path (a response, not a raised HTTPException, so cookies can be set on it)."""
    return web.Response(status=303, headers={"Location": location})


def redirect(request: web.Request, location: str, message: str | None = None, kind: str = "ok") -> web.Response:
    response = see_other(location)
    if message:
        flash(response, request, message, kind)
    return response


# ---- rendering ----------------------------------------------------------------------------------------

def render(request: web.Request, template: str, status: int = 200, **context) -> web.Response:
    env: jinja2.Environment = request.app["jinja"]
    session = request.get("session")
    flashed = None
    raw = request.cookies.get("radbill_flash")
    if raw:
        payload = _unsign(request.app, raw)
        flashed = json.loads(payload) if payload else None
    csrf = session.csrf_token if session else request.get("login_csrf", "")
    html = env.get_template(template).render(request=request, session=session, scope=request.get("scope"),
                                             csrf_token=csrf, flashed=flashed, **context)
    response = web.Response(text=html, status=status, content_type="text/html")
    if raw:
        response.del_cookie("radbill_flash", path="/")
    if request.get("set_login_csrf"):
        response.set_cookie("radbill_login_csrf", request["login_csrf"], path="/", httponly=True, samesite="Strict",
                            secure=request.app["config"].cookie_secure)
    return response


# ---- middlewares --------------------------------------------------------------------------------------

@web.middleware
async def security_headers(request: web.Request, handler):
    return apply_security_headers(request, await handler(request))


def apply_security_headers(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """The headers every reply carries; a streamed reply calls this itself before prepare() sends them."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path != "/static" and not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


DATABASE_AWAY = (ConnectionError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                 asyncpg.AdminShutdownError)


def _is_api(request: web.Request) -> bool:
    """/api/v1 has its own pipeline (admin.api.guard): tokens, not this cookie; problem+json, not pages."""
    return request.path.startswith("/api/")


@web.middleware
async def errors(request: web.Request, handler):
    if _is_api(request):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status == 404:
            return render(request, "error.html", status=404, title=_("Not found"),
                          message=_("There is nothing here, or it is not yours to see."))
        if exc.status == 413:
            return render(request, "error.html", status=413, title=_("File too large"),
                          message=_("The upload is larger than 2 MB. Split the file and upload the parts."))
        if exc.status == 405:
            return render(request, "error.html", status=405, title=_("Not allowed"),
                          message=_("This page cannot be used that way."))
        raise
    except NotFound:
        return render(request, "error.html", status=404, title=_("Not found"),
                      message=_("There is nothing here, or it is not yours to see."))
    except PermissionDenied as exc:
        return render(request, "error.html", status=403, title=_("Not allowed"), message=str(exc))
    except RadbillError as exc:
        return render(request, "error.html", status=400, title=_("That did not work"), message=str(exc))
    except DATABASE_AWAY:  # e.g. Postgres restarting under `make run`: the pool reconnects by itself
        log.warning("database unreachable on %s %s", request.method, request.path)
        return render(request, "error.html", status=503, title=_("Database unavailable"),
                      message=_("The database is restarting or unreachable. Wait a few seconds, then try again."))
    except asyncpg.PostgresError as exc:  # a value the database refused (CHECK, UNIQUE, NOT NULL, too long...)
        refusal = validation_error_from_database(exc)
        if refusal is not None and "form" not in refusal.fields:
            return render(request, "error.html", status=422, title=_("Please correct the form"),
                          message=_("%(problem)s Go back to the form to change it.", problem=str(refusal)))
        if refusal is not None or isinstance(exc, asyncpg.DataError):  # e.g. an id far beyond bigint in a URL
            return render(request, "error.html", status=400, title=_("That did not work"),
                          message=_("A value in the request is out of range or in the wrong form. "
                                  "Go back and check what was entered."))
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render(request, "error.html", status=500, title=_("Something went wrong"),
                      message=_("The error was logged. Try again, and tell your administrator if it persists."))
    except (asyncpg.DataError, OverflowError):  # asyncpg's own argument checks (not a server refusal)
        return render(request, "error.html", status=400, title=_("That did not work"),
                      message=_("A number in the request is out of range. Go back and check what was entered."))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render(request, "error.html", status=500, title=_("Something went wrong"),
                      message=_("The error was logged. Try again, and tell your administrator if it persists."))


def _same_origin(request: web.Request) -> bool:
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    return parts.netloc == request.host


@web.middleware
async def access_control(request: web.Request, handler):
    """Session -> Scope, then the route's declared roles/permission/stage, then CSRF for unsafe methods."""
    if _is_api(request):  # never the admin cookie: the API guard has authenticated the token and set its scope
        return await handler(request)
    # the session lookup and the login pages work before there is a Scope: as the system, for row-level security
    with scoped(SYSTEM):
        return await _access_control(request, handler)


async def _run_scoped(request: web.Request, handler):
    """The handler, with every connection it takes carrying the caller's subtree (row-level security's net)."""
    scope = request.get("scope")
    if scope is None:
        return await handler(request)
    with scoped(scope.path):
        return await handler(request)


def _choose_locale(request: web.Request, session) -> None:
    """The login's language (its own, else its operator's default), else what the browser asks for. Set on every
    request: aiohttp serves a keep-alive connection's requests in one task, so nothing may linger from the last."""
    if session is not None:
        i18n.set_locale(session.locale, session.bengali_digits)
    else:
        i18n.set_locale(i18n.negotiate(request.headers.get("Accept-Language")))


async def _access_control(request: web.Request, handler):
    i18n.set_locale(i18n.DEFAULT_LOCALE)
    if request.path.startswith("/static/"):
        return await handler(request)
    access = access_of(request)
    if access is None:
        if request.match_info.http_exception is not None:
            raise request.match_info.http_exception
        log.error("route %s declares no access; refusing", request.path)
        raise web.HTTPForbidden()
    if access.machine:  # server-to-server callback: no cookies are involved, so there is nothing to forge
        return await handler(request)
    token = request.cookies.get(cookie_name(request.app), "")
    session = None
    if token:
        async with request.app["pool"].acquire() as conn:
            session = await auth_service.load_session(conn, token)
    _choose_locale(request, session)
    if session is not None:
        request["session"] = session
        if session.stage == "full":
            request["scope"] = session.scope
    if access.public:
        if request.method in UNSAFE:
            _check_login_csrf(request)
        elif not request.cookies.get("radbill_login_csrf"):
            request["login_csrf"], request["set_login_csrf"] = secrets.token_urlsafe(24), True
        else:
            request["login_csrf"] = request.cookies["radbill_login_csrf"]
        return await _run_scoped(request, handler)
    if session is None:
        if request.method in UNSAFE:
            raise web.HTTPForbidden(text=_("Your session ended. Log in again."))
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}" if request.path != "/" else "/login")
    if session.stage not in access.stages:
        target = {"totp": "/login/totp", "change_password": "/password/change"}.get(session.stage, "/")
        raise web.HTTPSeeOther(target)
    if request.method in UNSAFE:
        await _check_session_csrf(request, session)
    if not permits(access, session.scope):
        await _record_denial(request, session, access)
        return forbidden(request, access)
    return await _run_scoped(request, handler)


def _check_login_csrf(request: web.Request) -> None:
    cookie = request.cookies.get("radbill_login_csrf", "")
    request["login_csrf"] = cookie
    if not _same_origin(request) or not cookie:
        raise web.HTTPForbidden(text=_("Cross-site request refused."))


async def _check_session_csrf(request: web.Request, session) -> None:
    form = await request.post() if request.content_type in (
        "application/x-www-form-urlencoded", "multipart/form-data") else {}
    sent = request.headers.get("X-CSRF-Token") or form.get("csrf_token") or ""
    # compared as bytes: compare_digest refuses non-ASCII str, and a forged token must get a 403, not a 500
    if not _same_origin(request) or not hmac.compare_digest(str(sent).encode(), session.csrf_token.encode()):
        raise web.HTTPForbidden(text=_("Cross-site request refused: reload the page and try again."))


async def csrf_login_ok(request: web.Request, form) -> bool:
    sent = str(form.get("csrf_token", "")).encode()
    return hmac.compare_digest(sent, (request.get("login_csrf", "") or "\0").encode())


async def _record_denial(request: web.Request, session, access) -> None:
    async with request.app["pool"].acquire() as conn:
        await audit.record(conn, session.scope, "permission_denied", "route", None,
                           {"path": request.path, "method": request.method, "section": access.section},
                           client_ip(request))


def forbidden(request: web.Request, access) -> web.Response:
    session = request["session"]
    if session.role == "sub_operator":
        return render(request, "forbidden.html", status=403, section=access.section,
                      sections=operator_only_sections())
    return render(request, "error.html", status=403, title=_("Not allowed"),
                  message=_("Your login does not include this page. Ask the operator who manages your account."))
