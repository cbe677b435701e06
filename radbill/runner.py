"""What `make run` starts: the database (embedded unless DATABASE_URL is set), migrated, seeded with a demo ISP
when empty, then FreeRADIUS with radbill's raddb/, all supervised in the foreground."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time

import asyncpg

from radbill import freeradius, localenv
from radbill.config import Config
from radbill.db.migrate import migrate_url
from radbill.errors import RadbillError
from radbill.supervise import Child, Supervisor, terminate

log = logging.getLogger("radbill.run")


async def _prepare_database(url: str) -> dict | None:
    """Migrate; seed the demo ISP when there is no operator yet. Returns the demo credentials if seeded."""
    from radbill.services.demo import seed_demo

    applied = await migrate_url(url)
    log.info("migrations: %s", ", ".join(applied) if applied else "up to date")
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT exists(SELECT 1 FROM operators)"):
            return None
        return await seed_demo(conn)
    finally:
        await conn.close()


def _announce_demo(config: Config, demo: dict) -> None:
    from radbill.cli import format_demo

    demo["radius"] = {"host": config.radius_host, "auth_port": config.radius_auth_port,
                      "acct_port": config.radius_acct_port}
    path = localenv.VAR_DIR / "demo-credentials.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(demo, out, indent=2)
    print("\n" + format_demo(demo) + f"\n(also saved to {path}, readable by root only)\n", flush=True)


def _python_child(name: str, args: list[str], log_path, ready) -> Child:
    """A radbill Python process (admin, scheduler) started now, restarted by the supervisor if it dies."""

    def start() -> subprocess.Popen:
        out = open(log_path, "ab")  # owned by the child from here on
        process = subprocess.Popen([sys.executable, *args], env=os.environ.copy(), stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        ready(process)
        return process

    return Child(name, start=start, stop=terminate, process=start())


def _wait_tcp(host: str, port: int, timeout: float = 30.0):
    def wait(process: subprocess.Popen) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RadbillError(f"exited with code {process.returncode} before listening on {host}:{port}")
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RadbillError(f"nothing listens on {host}:{port} after {timeout:.0f}s")

    return wait


def run_all() -> int:
    localenv.apply_local_env()
    config = Config.from_env()
    supervisor = Supervisor()
    log_dir = localenv.VAR_DIR / "log"
    log_dir.mkdir(parents=True, exist_ok=True)

    cluster = None
    if localenv.uses_embedded_database():
        cluster = localenv.embedded_cluster()
        if localenv.cluster_running(cluster):
            log.error("something already listens on 127.0.0.1:%s (another `make run`?)", cluster.port)
            return 1
        cluster.start(log=log_dir / "postgres.log")
        supervisor.add(Child("postgres", start=lambda: cluster.process, stop=lambda p: cluster.stop(), essential=True,
                             process=cluster.process))
        log.info("embedded PostgreSQL on 127.0.0.1:%s (data in %s, log in %s)",
                 cluster.port, cluster.datadir, log_dir / "postgres.log")
    radius = None
    try:
        demo = asyncio.run(_prepare_database(config.owner_url.reveal()))
        if demo:
            _announce_demo(config, demo)
        settings = freeradius.RadiusSettings(
            database_url=config.radius_url.reveal(), state_dir=localenv.VAR_DIR / "radius",
            host=config.radius_host, auth_port=config.radius_auth_port, acct_port=config.radius_acct_port,
            reject_delay=int(os.environ.get("RADBILL_REJECT_DELAY", "1")),
            acct_interim_interval=config.acct_interim_interval)
        radius = freeradius.RadiusService(settings, log_path=log_dir / "freeradius.log")
        radius.start()
        radius.watch_nas_changes()
        supervisor.add(Child("freeradius", start=radius.start, stop=lambda p: radius.stop(),
                             current=lambda: radius.process, process=radius.process))
        log.info("FreeRADIUS on %s auth %s acct %s (log %s)", config.radius_host, config.radius_auth_port,
                 config.radius_acct_port, log_dir / "freeradius.log")
        admin = _python_child("admin", ["-m", "admin"], log_dir / "admin.log",
                              _wait_tcp(config.admin_host, config.admin_port))
        supervisor.add(admin)
        log.info("admin on http://%s:%s (log %s)", config.admin_host, config.admin_port, log_dir / "admin.log")
        supervisor.add(_python_child("scheduler", ["-m", "scheduler"], log_dir / "scheduler.log",
                                     lambda process: None))
        log.info("scheduler: outbox dispatcher and billing jobs (log %s)", log_dir / "scheduler.log")
    except BaseException:
        for child in supervisor.children:
            if child.process is not None and child.name not in ("postgres", "freeradius"):
                terminate(child.process)
        if radius is not None:
            radius.stop()
        if cluster is not None:
            cluster.stop()
        raise
    log.info("database: %s", config.database_url)
    log.info("radbill is running; press Ctrl-C to stop")
    return supervisor.run()
