"""A FreeRADIUS of its own (database radbill_coa) with a simulated router of every type that answers
Disconnect/CoA as that type does: 127.0.0.2 (mikrotik), 127.0.0.3 (generic, `other`), 127.0.0.4-7 (cisco,
juniper, huawei, accel_ppp). 127.0.0.1 is a plain client for readiness probes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import pytest

from radbill.db.pool import SYSTEM, create_pool
from radbill.passwords import generate_nas_secret
from radbill.services.outbox import DispatchSettings, RetryPolicy
from tests import factories as f
from tests.nas_simulator import NasSimulator
from tests.radius.conftest import RadiusServer, running_radius, wait_folded
from tests.support.db import app_url

# fast retries so the give-up paths run in well under a second
FAST = DispatchSettings(retry=RetryPolicy(max_attempts=3, base_delay=0.05, factor=2.0, max_delay=0.2, jitter=0.2),
                        radius_timeout=0.2, radius_tries=1)


@dataclass
class CoaLab:
    radius: RadiusServer
    routers: dict[str, NasSimulator]  # router type -> its simulator
    isp: SimpleNamespace
    db_url: str

    @property
    def mikrotik(self) -> NasSimulator:
        return self.routers["mikrotik"]

    @property
    def other(self) -> NasSimulator:
        """A router of the generic type (what 'other' became in migration 0035)."""
        return self.routers["generic"]


ROUTER_ADDRESSES = {"mikrotik": "127.0.0.2", "generic": "127.0.0.3", "cisco": "127.0.0.4", "juniper": "127.0.0.5",
                    "huawei": "127.0.0.6", "accel_ppp": "127.0.0.7"}


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


async def eventually(check, within: float = 5.0, interval: float = 0.02):
    """Await `check()` (sync or async) until truthy; returns the value, or the last falsy one at the timeout."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)
