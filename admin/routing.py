"""Every admin route declares who may use it; the registry is what the middleware and the tests read."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

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


def allows(scope, route_name: str) -> bool:
    """Whether the scope may use the named route: the route's own declaration (roles, then Scope.can for its
    permission), so a template shows a button exactly when the page behind it would open."""
    found = next((r for r in REGISTRY if r.name == route_name), None)
    if found is None or scope is None:
        return False
    return scope.role in found.access.roles and (found.access.permission is None or scope.can(found.access.permission))


def access_of(request: web.Request) -> Access | None:
    handler = request.match_info.handler
    return getattr(handler, "access", None)


def add_routes(app: web.Application) -> None:
    for r in REGISTRY:
        app.router.add_route(r.method, r.path, r.handler, name=r.name)
