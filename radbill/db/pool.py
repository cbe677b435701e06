"""asyncpg pools for radbill's processes."""

from __future__ import annotations

import asyncpg

# Tenant queries filter by `path <@ $1`: a group admin's scope matches everything, a sub-operator's a sliver.
# A cached generic plan (Postgres switches after 5 runs of a prepared statement) cannot know which, and was
# measured 3x slower for the dashboard at 100k customers; plan every execution for its actual scope instead.
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan", "application_name": "radbill"}


async def create_pool(url: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, command_timeout=60,
                                     server_settings=SERVER_SETTINGS)
