"""asyncpg pools for radbill's processes, and the row-level-security scope each connection carries."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

# Tenant queries filter by `path <@ $1`: a group admin's scope matches everything, a sub-operator's a sliver.
# A cached generic plan (Postgres switches after 5 runs of a prepared statement) cannot know which, and was
# measured 3x slower for the dashboard at 100k customers; plan every execution for its actual scope instead.
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan", "application_name": "radbill"}

# The value of `radbill.scope_path` (sql/migrations/0017) that lets the row-level policies pass every tenant row:
# scheduler jobs, and the admin's login pages before a Scope exists. Empty means no tenant row at all.
SYSTEM = "*"
NOTHING = ""

_scope_path: contextvars.ContextVar[str | None] = contextvars.ContextVar("radbill_scope_path", default=None)
# The portal's one-customer scope (sql/migrations/0030, `customer_scoped`): with it set (and the path empty),
# row-level security lets the connection reach that customer's own rows. Staff and system scopes leave it unset.
_scope_customer: contextvars.ContextVar[int | None] = contextvars.ContextVar("radbill_scope_customer", default=None)


@contextmanager
def scoped(path: str, customer_id: int | None = None) -> Iterator[None]:
    """Connections acquired from a radbill pool inside this block carry `path` (a Scope's path, or SYSTEM) and,
    for a portal customer, `customer_id`."""
    token = _scope_path.set(path)
    customer_token = _scope_customer.set(customer_id)
    try:
        yield
    finally:
        _scope_customer.reset(customer_token)
        _scope_path.reset(token)


def customer_scoped(customer_id: int):
    """The portal's one-customer scope: no staff path at all (every staff policy matches nothing) and the
    customer, whom the customer policies of sql/migrations/0030 let reach their own rows only."""
    return scoped(NOTHING, customer_id)


def current_scope_path(default: str = NOTHING) -> str:
    value = _scope_path.get()
    return default if value is None else value


SET_SCOPE = ("SELECT set_config('radbill.scope_path', $1, false),"
             " set_config('radbill.scope_customer', coalesce($2::bigint::text, ''), false)")


async def set_scope(conn: asyncpg.Connection, path: str, customer_id: int | None = None) -> None:
    """Scope a connection held outside a pool. Session-level on purpose: the services run reads outside
    transactions too, and a pool's release runs RESET ALL, so the setting never outlives the checkout."""
    await conn.execute(SET_SCOPE, path, customer_id)


async def create_pool(url: str, min_size: int = 1, max_size: int = 10, default_scope: str = NOTHING) -> asyncpg.Pool:
    """A pool whose every checkout carries the caller's scope (see `scoped`), else `default_scope`: the admin
    keeps NOTHING (a handler that forgot its scope sees no tenant rows), the scheduler SYSTEM."""

    async def apply_scope(conn: asyncpg.Connection) -> None:
        path, customer_id = current_scope_path(default_scope), _scope_customer.get()
        if path == NOTHING and customer_id is None:
            # Nothing to say: a new connection has no setting and the release's RESET ALL puts every returned one
            # back to ''; both mean no tenant row (radbill_scope_path, radbill_scope_customer). The API's checkout
            # (admin.api.guard) takes its client's scope in the token lookup, so this saves it a round trip.
            return
        await conn.execute(SET_SCOPE, path, customer_id)

    return await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, command_timeout=60,
                                     server_settings=SERVER_SETTINGS, setup=apply_scope)
