"""A FreeRADIUS of its own (database radbill_coa) with a simulated router of every type that answers
Disconnect/CoA as that type does: 127.0.0.2 (mikrotik), 127.0.0.3 (generic, `other`), 127.0.0.4-7 (cisco,
juniper, huawei, accel_ppp). 127.0.0.1 is a plain client for readiness probes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from radbill.db.pool import SYSTEM, create_pool
from radbill.passwords import generate_nas_secret
from tests import factories as f
from tests.nas_simulator import NasSimulator
from tests.support.db import app_url
from tests.support.radius import running_radius, wait_folded
from tests.support.scheduler import ROUTER_ADDRESSES, CoaLab


async def _seed(url: str, secret: str, routers: dict[str, NasSimulator]):
    conn = await asyncpg.connect(url)
    try:
        isp = await f.isp(conn)
        await f.insert(conn, "nas", {"nasname": "127.0.0.1", "shortname": "probe", "secret": secret,
                                     "operator_id": isp.operator["id"], "type": "generic"})
        for kind, sim in routers.items():
            await f.insert(conn, "nas", {"nasname": sim.ip, "shortname": f"sim-{kind}", "secret": secret,
                                         "operator_id": isp.operator["id"], "type": kind, "coa_port": sim.coa_port})
        isp.fast_package = await f.package(conn, isp.operator["id"], download_kbps=20000, upload_kbps=8000)
        await f.insert(conn, "package_assignments", {"operator_id": isp.sub["id"],
                                                     "package_id": isp.fast_package["id"],
                                                     "wholesale_price_minor": 40000})
        return isp
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def coa_lab(pg_server):
    secret = generate_nas_secret()
    routers = {kind: NasSimulator(ip, secret, nas_type=kind).start() for kind, ip in ROUTER_ADDRESSES.items()}
    url = pg_server.create_database("radbill_coa")
    try:
        isp = asyncio.run(_seed(url, secret, routers))
        with running_radius(url, Path(pg_server.base) / "radius-coa", secret, isp) as server:
            for sim in routers.values():
                sim.use_radius("127.0.0.1", server.settings.auth_port, server.settings.acct_port)
                sim.settle = lambda: wait_folded(url)
            yield CoaLab(server, routers, isp, url)
    finally:
        for sim in routers.values():
            sim.stop()


@pytest.fixture
async def lab(coa_lab):
    """The lab with every router answering ACK; rows a test left pending are closed so they cannot leak."""
    for sim in coa_lab.routers.values():
        sim.reset()
    yield coa_lab
    conn = await asyncpg.connect(coa_lab.db_url)
    try:
        await conn.execute("UPDATE outbox SET failed_at = now(), last_error = 'closed by test teardown'"
                           " WHERE done_at IS NULL AND failed_at IS NULL")
    finally:
        await conn.close()


@pytest.fixture
async def lab_db(coa_lab):
    conn = await asyncpg.connect(coa_lab.db_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def lab_pool(coa_lab):
    # the scheduler's own kind of pool: radbill_app, acting as the system
    pool = await create_pool(app_url(coa_lab.db_url), min_size=1, max_size=6, default_scope=SYSTEM)
    try:
        yield pool
    finally:
        await pool.close()
