"""A throwaway, migrated PostgreSQL cluster for benchmarks (the same one the tests use, fsync off)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from radbill.db.cluster import APP, ClusterCredentials, LocalCluster, free_port
from radbill.db.migrate import migrate_url

_creds: list[ClusterCredentials] = []


def app_url(url: str) -> str:
    """The throwaway database as the app's own role (radbill_app): row-level security applies, as in production."""
    from psycopg.conninfo import conninfo_to_dict

    return _creds[0].url(conninfo_to_dict(url)["dbname"], APP)


@contextmanager
def throwaway_database(prefix: str = "radbill-bench-") -> Iterator[str]:
    """Yield the URL of a freshly migrated database; the cluster is destroyed afterwards, even on Ctrl-C or a
    SIGTERM (e.g. from `timeout`), which would otherwise end Python without running `finally`."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)
    cluster = LocalCluster(base / "pg", free_port())
    try:
        creds = cluster.init()
        _creds[:] = [creds]
        cluster.start(log=base / "postgres.log", settings={"fsync": "off", "synchronous_commit": "off",
                                                           "shared_buffers": "512MB", "work_mem": "32MB"})
        asyncio.run(migrate_url(creds.url()))
        yield creds.url()
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


def summarise(timings_ms: list[float]) -> dict:
    """p50/p95/max of a list of latencies in milliseconds, rounded for printing."""
    ordered = sorted(timings_ms)
    return {"runs": len(ordered), "p50_ms": round(ordered[len(ordered) // 2], 1),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1), "max_ms": round(ordered[-1], 1)}
