"""A real FreeRADIUS (raddb/, our python3 module, rlm_sql) on free ports, against a database given by the caller."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psycopg

from radbill import freeradius
from radbill.radius.client import RadiusClient
from tests import factories as f
from tests.support.db import radius_url


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RadiusServer:
    settings: freeradius.RadiusSettings
    service: freeradius.RadiusService
    db_url: str
    secret: str
    isp: object

    def client(self, secret: str | None = None, timeout: float = 1.0, retries: int = 3) -> RadiusClient:
        return RadiusClient("127.0.0.1", self.settings.auth_port, self.settings.acct_port, secret or self.secret,
                            timeout=timeout, retries=retries)

    @property
    def log(self) -> str:
        path = self.settings.state_dir / "log" / "radiusd.out"
        return path.read_text(errors="replace") if path.exists() else ""


# db_url -> the accounting spool of a server running with RADBILL_ACCT_WRITE=spool on it
ACCT_SPOOLS: dict[str, Path] = {}


def spooled(spool: Path | None) -> bool:
    """Whether a spool file still holds lines (a file is deleted only after its rows are in the journal)."""
    if spool is None:
        return False
    return any(p.stat().st_size for p in spool.parent.glob(spool.name + "*")
               if not p.name.endswith(".rejected") and p.exists())


def wait_folded(url: str, seconds: float = 5.0) -> None:
    """Until the RADIUS module has folded every acknowledged accounting packet into radacct (it does so ~10x/s);
    in spool mode, the spool is loaded into the journal first."""
    spool = ACCT_SPOOLS.get(url)
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + seconds
        # the spool before the journal: a line that left the spool is already a journal row
        while spooled(spool) or conn.execute("SELECT count(*) FROM radacct_journal").fetchone()[0]:
            if time.monotonic() > deadline:
                raise AssertionError("the accounting journal was not folded into radacct")
            time.sleep(0.02)


async def seed(url: str, secret: str):
    conn = await asyncpg.connect(url)
    try:
        isp = await f.isp(conn)
        await f.insert(conn, "nas", {"nasname": "127.0.0.1", "shortname": "test-nas", "secret": secret,
                                     "operator_id": isp.operator["id"]})
        return isp
    finally:
        await conn.close()


async def add_customer(url: str, isp, username: str, **values):
    """A customer of the seeded sub-operator, committed (FreeRADIUS hears of it by NOTIFY)."""
    conn = await asyncpg.connect(url)
    try:
        return await f.customer(conn, isp.sub["id"], isp.package["id"], isp.profile["id"], username=username,
                                **values)
    finally:
        await conn.close()


@contextmanager
def running_radius(db_url: str, state_dir: Path, secret: str, isp=None, threads: int = 4, acct_write: str = "sql"):
    """Start radbill's FreeRADIUS against `db_url`, restarted on router changes; stopped when the block ends."""
    settings = freeradius.RadiusSettings(
        database_url=radius_url(db_url), state_dir=state_dir, auth_port=free_udp_port(), acct_port=free_udp_port(),
        reject_delay=0, acct_interim_interval=60, threads=threads, acct_write=acct_write)
    service = freeradius.RadiusService(settings)
    service.start()
    service.watch_nas_changes()
    if acct_write == "spool":
        ACCT_SPOOLS[db_url] = state_dir / "spool" / "accounting.tsv"
    try:
        freeradius.wait_ready(settings, secret, service.process)
        yield RadiusServer(settings, service, db_url, secret, isp)
    finally:
        service.stop()
        ACCT_SPOOLS.pop(db_url, None)
