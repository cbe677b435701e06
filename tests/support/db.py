"""The test cluster's roles and connections: the same database as another role, a connection per block."""

from __future__ import annotations

from contextlib import asynccontextmanager

import asyncpg

from radbill.db.cluster import APP, RADIUS, ClusterCredentials

TEMPLATE = "radbill_template"

_clusters: dict[int, ClusterCredentials] = {}  # port -> credentials of the clusters tests made, for role_url


def register_cluster(creds: ClusterCredentials) -> None:
    _clusters[creds.port] = creds


def role_url(url: str, role: str) -> str:
    """The same database as `url`, connected as `role` (APP: the admin and scheduler; RADIUS: FreeRADIUS)."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(url)
    return _clusters[int(params["port"])].url(params["dbname"], role)


def app_url(url: str) -> str:
    return role_url(url, APP)


def radius_url(url: str) -> str:
    return role_url(url, RADIUS)


@asynccontextmanager
async def connect(url: str):
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()
