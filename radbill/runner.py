"""What `make run` starts: the database (embedded unless DATABASE_URL is set), migrated, then supervised."""

from __future__ import annotations

import asyncio
import logging

from radbill import localenv
from radbill.config import Config
from radbill.db.migrate import migrate_url
from radbill.supervise import Child, Supervisor

log = logging.getLogger("radbill.run")


def run_all() -> int:
    localenv.apply_local_env()
    config = Config.from_env()
    supervisor = Supervisor()
    log_dir = localenv.VAR_DIR / "log"
    log_dir.mkdir(parents=True, exist_ok=True)

    embedded = localenv.uses_embedded_database()
    if embedded:
        cluster = localenv.embedded_cluster()
        if localenv.cluster_running(cluster):
            log.error("something already listens on 127.0.0.1:%s (another `make run`?)", cluster.port)
            return 1
        cluster.start(log=log_dir / "postgres.log")
        supervisor.add(Child("postgres", start=lambda: cluster.process, stop=lambda p: cluster.stop(), essential=True))
        log.info("embedded PostgreSQL on 127.0.0.1:%s (data in %s, log in %s)",
                 cluster.port, cluster.datadir, log_dir / "postgres.log")
    try:
        applied = asyncio.run(migrate_url(config.database_url.reveal()))
        log.info("migrations: %s", ", ".join(applied) if applied else "up to date")
    except Exception:
        if embedded:
            cluster.stop()
        raise
    log.info("database: %s", config.database_url)
    log.info("radbill is running; press Ctrl-C to stop")
    return supervisor.run()
