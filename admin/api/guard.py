"""The /api/v1 request pipeline: bearer token -> client, address allow-list, rate limit, the client's scope, and
every error as problem+json. The admin's cookie session and CSRF never apply here (admin/web.py skips /api/)."""

from __future__ import annotations

import logging
from datetime import timedelta

import asyncpg
from aiohttp import web

from admin.api import problems
from admin.api.problems import ApiProblem
from admin.api.ratelimit import Buckets, SharedBuckets
from radbill import clock, i18n, proxies
from radbill.db.pool import scoped
from radbill.errors import (
    NotFound,
    PermissionDenied,
    RadbillError,
    ValidationError,
    validation_error_from_database,
)
from radbill.i18n import _
from radbill.services import api_clients

log = logging.getLogger("radbill.api")
API_PATHS = "/api/"
# An address whose requests fail authentication 30 times is then allowed one more try every 5 seconds (429 with
# Retry-After, its good tokens included, until it slows down): guessing tokens costs nothing but this dict.
FAILED_AUTH_BURST, FAILED_AUTH_RATE = 30, 0.2
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is news for people, not an audit: one write a minute is enough
DATABASE_AWAY = (ConnectionError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                 asyncpg.AdminShutdownError)


def is_api(request: web.Request) -> bool:
    return request.path.startswith(API_PATHS)


def setup(app: web.Application) -> None:
    config = app["config"]
    # several workers share the port (and a client's calls): the bucket must be one for all of them
    shared = config.admin_workers > 1
    app["api_buckets"] = (SharedBuckets if shared else Buckets)(config.api_rate, config.api_burst)
    # failed authentications per source address: a burst of typos is fine, a token-guessing flood is slowed
    # before it costs a database lookup per guess
    app["api_failed_auth"] = Buckets(FAILED_AUTH_RATE, FAILED_AUTH_BURST)
    app["api_trusted_proxies"] = proxies.parse_networks(config.trusted_proxies)


def source_ip(request: web.Request) -> str | None:
    """The caller's address: X-Forwarded-For only from a configured trusted proxy (radbill.proxies' one rule)."""
    return proxies.source_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                                  request.app["api_trusted_proxies"])


@web.middleware
async def middleware(request: web.Request, handler):
    if not is_api(request):
        return await handler(request)
    i18n.set_locale(i18n.negotiate(request.headers.get("Accept-Language")))
    try:
        return await _guarded(request, handler)
    except ApiProblem as problem:
        return problem.response()
    except web.HTTPException as exc:
        return _http_problem(exc).response()
    except NotFound:
        return problems.not_found().response()
    except PermissionDenied as exc:
        return ApiProblem(403, "forbidden", _("Not allowed"), str(exc)).response()
    except ValidationError as exc:
        return ApiProblem(422, "validation", _("Please correct the request"), str(exc),
                          problems.field_errors(exc.fields)).response()
    except RadbillError as exc:
        return ApiProblem(409, "conflict", _("That did not work"), str(exc)).response()
    except DATABASE_AWAY:
        log.warning("database unreachable on %s %s", request.method, request.path)
        return ApiProblem(503, "unavailable", _("Database unavailable"),
                          _("The database is restarting or unreachable. Try again in a few seconds."),
                          headers={"Retry-After": "5"}).response()
    except (asyncpg.PostgresError, asyncpg.DataError, OverflowError) as exc:
        refusal = validation_error_from_database(exc)
        if refusal is not None:
            return ApiProblem(422, "validation", _("Please correct the request"), str(refusal),
                              problems.field_errors(refusal.fields)).response()
        if isinstance(exc, (asyncpg.DataError, OverflowError)):
            return ApiProblem(400, "invalid-request", _("Invalid request"),
                              _("A value in the request is out of range or in the wrong form.")).response()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _server_error().response()
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _server_error().response()


def _server_error() -> ApiProblem:
    return ApiProblem(500, "server-error", _("Something went wrong"),
                      _("The error was logged. Try again, and tell the operator if it persists."))


def _http_problem(exc: web.HTTPException) -> ApiProblem:
    if exc.status == 404:
        return problems.not_found()
    if exc.status == 405:
        return ApiProblem(405, "invalid-request", _("Method not allowed"),
                          _("This operation does not exist with this method; see /api/v1/docs."))
    if exc.status == 413:
        return ApiProblem(413, "too-large", _("Body too large"), _("The request body is too large."))
    return ApiProblem(exc.status, "invalid-request", exc.reason or _("Invalid request"))


async def _guarded(request: web.Request, handler):
    declared = getattr(request.match_info.handler, "api_route", None)
    if declared is not None and declared.public:
        return await handler(request)
    ip = source_ip(request)
    failures = request.app["api_failed_auth"]
    if wait := failures.wait(ip):
        raise _too_many(wait)
    try:
        token = _bearer(request)
    except ApiProblem:
        failures.take(ip)
        raise
    # one checkout for the whole call: the token is looked up before any scope exists (a SECURITY DEFINER
    # function) and the same query gives the connection the client's scope; it then serves the handler (Call.pool)
    async with request.app["pool"].acquire() as conn:
        client = await api_clients.authenticate(conn, token, declared is not None and declared.generic_plans)
        if client is None:
            failures.take(ip)
            raise problems.unauthorized()
        if not client.admits(ip):
            raise ApiProblem(403, "address-not-allowed", _("Address not allowed"),
                             _("This client may not be used from %(ip)s. Ask its operator to add the address.",
                               ip=ip or "?"))
        if wait := await request.app["api_buckets"].spend(conn, client.id):
            raise _too_many(wait)
        if client.last_used_at is None or clock.now() - client.last_used_at > TOUCH_EVERY:
            await api_clients.mark_used(conn, client.id, ip)
        request["api_client"], request["api_ip"] = client, ip
        if request.match_info.http_exception is not None:  # no such operation: said only to an authenticated client
            raise request.match_info.http_exception
        request["api_conn"] = conn  # already in the client's scope: authenticate set it in the lookup's round trip
        try:
            with scoped(client.scope.path):
                return await handler(request)
        finally:
            request["api_conn"] = None  # the connection goes back to the pool (reset) when this block ends


def _too_many(wait: int) -> ApiProblem:
    return ApiProblem(429, "rate-limited", _("Too many requests"),
                      _("Slow down: try again in %(n)s seconds.", n=wait), headers={"Retry-After": str(wait)})


def _bearer(request: web.Request) -> str:
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise problems.unauthorized()
    return token.strip()


