"""The API's route declarations: what each operation takes and returns, read by the router, the request checks
and the OpenAPI generator alike (admin.routing.REGISTRY stays the admin pages' own)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from admin.api.problems import ApiProblem, forbidden, invalid, json_response
from radbill.i18n import _
from radbill.services.auth import MANAGER_PERMISSIONS

PREFIX = "/api/v1"
MAX_BODY = 64 * 1024  # a customer record is ~1 KB; anything near this is a mistake or an attack


@dataclass(frozen=True)
class Param:
    """A query parameter: its JSON Schema type ("string", "integer", "boolean"), what it means, and its allowed
    values (`enum`) or bounds. Values outside them are a 400 naming the parameter, never a 500."""

    name: str
    type: str = "string"
    description: str = ""
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    default: object = None

    def schema(self) -> dict:
        out: dict = {"type": self.type}
        for key in ("enum", "minimum", "maximum", "default"):
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if key == "enum" else value
        return out

    def parse(self, raw: str):
        if self.type == "integer":
            if not (raw.lstrip("-").isascii() and raw.lstrip("-").isdecimal()) or len(raw) > 18:
                raise invalid(self.name, _("%(name)s must be a whole number.", name=self.name))
            value = int(raw)
            if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
                raise invalid(self.name, _("%(name)s must be between %(low)s and %(high)s.", name=self.name,
                                           low=self.minimum, high=self.maximum))
            return value
        if self.type == "boolean":
            if raw not in ("true", "false", "1", "0"):
                raise invalid(self.name, _("%(name)s must be true or false.", name=self.name))
            return raw in ("true", "1")
        if self.enum is not None and raw not in self.enum:
            raise invalid(self.name, _("%(name)s must be one of: %(values)s.", name=self.name,
                                       values=", ".join(self.enum)))
        if len(raw) > 200:
            raise invalid(self.name, _("%(name)s is too long.", name=self.name))
        return raw


@dataclass
class Call:
    """What a handler receives: the request, the client's Scope, and the declared inputs already checked."""

    request: web.Request
    scope: object
    client: object
    path: dict
    query: dict
    body: dict | None
    ip: str | None

    @property
    def pool(self):
        """The connection the guard checked out for this call (already carrying the client's scope), behind the
        pool's `acquire()` shape; the app's pool for a public route."""
        held = self.request.get("api_conn")
        return HeldConnection(held) if held is not None else self.request.app["pool"]


class HeldConnection:
    """`async with call.pool.acquire() as conn` on the one connection a call holds: an API read costs one pool
    checkout (its scope setup and its reset) instead of one for the token and another for the handler."""

    def __init__(self, conn):
        self.conn = conn

    def acquire(self):
        return self

    async def __aenter__(self):
        return self.conn

    async def __aexit__(self, *exc):
        return False


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str  # as declared, under PREFIX: /customers/{customer_id}
    handler: Callable
    permission: str | None
    summary: str
    description: str
    query: tuple[Param, ...]
    body: dict | None  # JSON Schema of the body (the form parser decides validity)
    response: dict | None  # JSON Schema of a success
    status: int
    tags: tuple[str, ...]
    public: bool = False
    name: str = ""
    errors: tuple[int, ...] = field(default=())

    @property
    def generic_plans(self) -> bool:
        """A read of one object by its id (GET /customers/{customer_id}): the same plan (a primary-key probe)
        serves every scope, so Postgres may cache it (plan_cache_mode auto) instead of planning the query on every
        call as the admin does for scope-sized queries (radbill.db.pool.SERVER_SETTINGS); planning was most of
        such a read's database time (2.3 → 0.6 ms for a customer, bench/README.md `make bench-api`)."""
        return self.method == "GET" and self.path.endswith("_id}")

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)

    @property
    def aiohttp_path(self) -> str:
        # ids are digits: anything else never reaches a handler (a 404 problem, like a missing id)
        return PREFIX + re.sub(r"\{(\w+_id)\}", r"{\1:\\d{1,18}}", self.path)


API_REGISTRY: list[ApiRoute] = []
_JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list,
               "object": dict, "null": type(None)}


def api_route(method: str, path: str, *, permission: str | None, summary: str, description: str = "",
              query: tuple[Param, ...] | list[Param] = (), body: dict | None = None, response: dict | None = None,
              status: int = 200, tags: tuple[str, ...] | list[str] = (), public: bool = False,
              errors: tuple[int, ...] = ()):
    """Declare an operation `async def h(call: Call) -> JSON-able | web.Response` (see admin/api/__init__.py)."""
    if not public and permission not in MANAGER_PERMISSIONS:
        raise ValueError(f"{method} {path}: permission must be one of {sorted(MANAGER_PERMISSIONS)}")

    def decorator(func: Callable[[Call], Awaitable]):
        API_REGISTRY.append(ApiRoute(method, path, func, permission, summary,
                                     description or (func.__doc__ or "").strip(), tuple(query), body, response,
                                     status, tuple(tags), public, func.__name__, tuple(errors)))
        return func

    return decorator


async def run(declared: ApiRoute, request: web.Request) -> web.StreamResponse:
    client = request.get("api_client")
    scope = client.scope if client is not None else None
    if declared.permission and not scope.can(declared.permission):
        raise forbidden(declared.permission)
    path = {name: int(request.match_info[name]) if name.endswith("_id") else request.match_info[name]
            for name in declared.path_params}
    call = Call(request, scope, client, path, parse_query(declared, request), await read_body(declared, request),
                request.get("api_ip"))
    result = await declared.handler(call)
    if isinstance(result, web.StreamResponse):
        return result
    return json_response(result, declared.status)


def parse_query(declared: ApiRoute, request: web.Request) -> dict:
    known = {p.name: p for p in declared.query}
    out = {p.name: p.default for p in declared.query}
    for name in request.query:
        if name not in known:
            raise invalid(name, _("Unknown parameter %(name)s.", name=name[:40]))
        values = request.query.getall(name)
        if len(values) > 1:
            raise invalid(name, _("Give %(name)s once.", name=name))
        out[name] = known[name].parse(values[0])
    return out


async def read_body(declared: ApiRoute, request: web.Request) -> dict | None:
    """The JSON object body, its top-level fields' types checked against the declaration; the form parser the
    handler calls decides whether the values themselves are acceptable."""
    if declared.body is None:
        return None
    if request.content_type != "application/json":
        raise ApiProblem(415, "invalid-request", _("Unsupported content type"),
                         _("Send the body as JSON with the header Content-Type: application/json."))
    if (request.content_length or 0) > MAX_BODY:
        raise _too_large()
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise _too_large()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise invalid("body", _("The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise invalid("body", _("The body must be a JSON object."))
    check_fields(declared.body, data)
    return data


def _too_large() -> ApiProblem:
    return ApiProblem(413, "too-large", _("Body too large"),
                      _("The body may be at most %(n)s bytes.", n=MAX_BODY))


def check_fields(schema: dict, data: dict) -> None:
    properties = schema.get("properties", {})
    errors = []
    for name, value in data.items():
        spec = properties.get(name)
        if spec is None:
            errors.append({"field": name[:60], "detail": _("Unknown field %(name)s.", name=name[:60])})
            continue
        types = spec.get("type", [])
        types = [types] if isinstance(types, str) else types
        if types and not any(isinstance(value, _JSON_TYPES[t]) and not (t in ("integer", "number")
                                                                        and isinstance(value, bool))
                             for t in types):
            errors.append({"field": name, "detail": _("%(name)s must be of type %(type)s.", name=name,
                                                      type=" or ".join(types))})
    for name in schema.get("required", []):
        if name not in data:
            errors.append({"field": name, "detail": _("%(name)s is required.", name=name)})
    if errors:
        raise ApiProblem(422, "validation", _("Please correct the request"), errors[0]["detail"], errors)


def as_form(data: dict) -> dict:
    """A JSON body as the admin form parsers read a form: text values (null and absent both mean empty)."""
    return {k: ("" if v is None else ("true" if v is True else "false" if v is False else str(v)))
            for k, v in data.items() if not isinstance(v, (list, dict))}


def add_api_routes(app: web.Application) -> None:
    for r in API_REGISTRY:
        app.router.add_route(r.method, r.aiohttp_path, _handler(r), name="api_" + r.name)


def _handler(declared: ApiRoute):
    async def handler(request: web.Request) -> web.StreamResponse:
        return await run(declared, request)

    handler.api_route = declared  # type: ignore[attr-defined]  (the guard reads it: public or not)
    return handler
