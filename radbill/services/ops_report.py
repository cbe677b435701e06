"""The health checks and metrics of a running radbill, read with the system scope (every tenant's outbox rows):
asked by the admin's /healthz, /metrics and system page, and by `radbill status`."""

from __future__ import annotations

import asyncpg

from radbill import clock, health, metrics
from radbill.db.pool import SYSTEM, scoped, set_scope


async def checks_from_pool(pool: asyncpg.Pool, settings: health.HealthSettings,
                           stats: dict[str, int] | None = None) -> list[health.Check]:
    try:
        with scoped(SYSTEM):
            async with pool.acquire() as conn:
                return await health.gather(conn, settings, clock.now(), stats=stats)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return await health.gather(None, settings, clock.now(), db_error=str(exc) or type(exc).__name__,
                                   stats=stats)


async def checks_from_url(url: str, settings: health.HealthSettings) -> list[health.Check]:
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return await health.gather(None, settings, clock.now(), db_error=str(exc) or type(exc).__name__)
    try:
        await set_scope(conn, SYSTEM)
        return await health.gather(conn, settings, clock.now())
    finally:
        await conn.close()


async def metrics_from_pool(pool: asyncpg.Pool, settings: health.HealthSettings) -> bytes:
    import asyncio

    stats = await asyncio.to_thread(health.radius_statistics, settings)  # asked once for both uses
    checks = await checks_from_pool(pool, settings, stats)
    families = [metrics.health_family(checks)] + metrics.radius_families(stats)
    if all(c.ok for c in checks if c.name == "database"):
        with scoped(SYSTEM):
            async with pool.acquire() as conn:
                families += await metrics.database_families(conn)
    return metrics.render(families)


async def alert_radius_nodes(conn: asyncpg.Connection, now) -> list[str]:
    """Raise (or count again) the group admin's 'radius_node_down' alert, one group per node, for each RADIUS node
    that stopped or does not answer (health.node_problems, the same sentence /healthz gives); the nodes' names."""
    from radbill.services.alerts import raise_installation_alert

    problems = health.node_problems(await health.radius_node_states(conn, now))
    if not problems:
        return []
    async with conn.transaction():
        for name, message in problems.items():
            await raise_installation_alert(conn, "radius_node_down", name, message, {"node": name})
    return list(problems)
