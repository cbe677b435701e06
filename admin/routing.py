"""Every admin route declares who may use it; the registry is what the middleware and the tests read."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from radbill.tenancy import Scope

ALL_ROLES = frozenset({"group_admin", "operator", "sub_operator", "manager"})
OPERATORS = frozenset({"group_admin", "operator", "manager"})  # managers also need the route's permission
ADMINS = frozenset({"group_admin", "operator"})


@dataclass(frozen=True)
class Access:
    roles: frozenset[str]
    permission: str | None = None  # a manager needs it; other allowed roles have it by role
    section: str | None = None  # named on the 403 page
    public: bool = False  # reachable without a session (login)
    stages: frozenset[str] = frozenset({"full"})  # login stages that may use it (totp, change_password, full)
    # server-to-server (an SMS provider's delivery report): no session, no CSRF; the handler authenticates
    machine: bool = False
    # a capability the operator menu promises but radbill does not have yet: a page saying so, never a bare 404
    planned: bool = False


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable
    access: Access
    name: str


REGISTRY: list[Route] = []


def route(method: str, path: str, *, roles: frozenset[str] | None = None, permission: str | None = None,
          section: str | None = None, public: bool = False, stages: tuple[str, ...] = ("full",),
          name: str | None = None, machine: bool = False, planned: bool = False):
    """Declare a handler `async def h(request, scope)`; the scope is None only on public routes."""
    if machine and roles:
        raise ValueError(f"{method} {path}: a machine route has no roles (its handler authenticates the caller)")
    public = public or machine
    if not public and not roles:
        raise ValueError(f"{method} {path}: a route must declare its roles (or be public)")

    def decorator(func: Callable[..., Awaitable[web.StreamResponse]]):
        access = Access(frozenset(roles or ()), permission, section, public, frozenset(stages), machine,
                        planned)

        @functools.wraps(func)
        async def handler(request: web.Request) -> web.StreamResponse:
            return await func(request, request.get("scope"))

        handler.access = access  # type: ignore[attr-defined]
        REGISTRY.append(Route(method, path, handler, access, name or func.__name__))
        return func

    return decorator


def operator_only_sections() -> list[str]:
    """What a sub-operator may not open, read from the routes themselves so the 403 page names only sections
    that exist (a planned capability is not listed until it is built)."""
    seen: dict[str, None] = {}
    for r in REGISTRY:
        if r.access.section and not r.access.planned and not r.access.public and "sub_operator" not in r.access.roles:
            seen.setdefault(r.access.section, None)
    return list(seen)


def permits(access: Access, scope: Scope) -> bool:
    """The one access rule for a signed-in caller: the route names the role and, for a manager, the permission
    (Scope.can). The middleware refuses exactly what this refuses; menus and buttons ask `may`, which asks this."""
    return scope.role in access.roles and (access.permission is None or scope.can(access.permission))


_PARAM = re.compile(r"\{(\w+)(?::((?:[^{}]|\{[^{}]*\})+))?\}")


def _pattern(path: str) -> re.Pattern:
    """A registry path as aiohttp matches it: `{name}` is one segment, `{name:regex}` the regex."""
    out, last = [], 0
    for m in _PARAM.finditer(path):
        out += [re.escape(path[last:m.start()]), "(?:" + (m.group(2) or "[^{}/]+") + ")"]
        last = m.end()
    return re.compile("".join(out) + re.escape(path[last:]))


@functools.cache
def _patterns(method: str, declared: int) -> list[tuple[re.Pattern, Route]]:
    """In declaration order, as aiohttp tries them; `declared` (the registry's size) renews the cache when a
    module declares more routes after a first lookup."""
    return [(_pattern(r.path), r) for r in REGISTRY if r.method == method]


def route_for(method: str, path: str) -> Route:
    """The declared route that serves `method path` (query string ignored); LookupError for none, so a link to
    a page that does not exist fails the tests instead of quietly disappearing from a menu."""
    path = path.split("?", 1)[0]
    for pattern, r in _patterns(method.upper(), len(REGISTRY)):
        if pattern.fullmatch(path):
            return r
    raise LookupError(f"no route {method} {path}")


def may(scope: Scope | None, path: str, method: str = "GET") -> bool:
    """Whether `scope` may use the page or action at `path`: the route's declared access, as the middleware
    decides it. Every menu entry, action link and button asks this, so none leads to a refusal."""
    r = route_for(method, path)
    if r.access.public:
        return True
    return scope is not None and permits(r.access, scope)


def allows(scope: Scope | None, route_name: str) -> bool:
    """`may` for a route named in its declaration rather than by a path (a button whose URL carries an id)."""
    found = next((r for r in REGISTRY if r.name == route_name), None)
    if found is None or scope is None:
        return False
    return found.access.public or permits(found.access, scope)


def access_of(request: web.Request) -> Access | None:
    handler = request.match_info.handler
    return getattr(handler, "access", None)


def add_routes(app: web.Application) -> None:
    for r in REGISTRY:
        app.router.add_route(r.method, r.path, r.handler, name=r.name)
