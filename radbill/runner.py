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
from pathlib import Path

import asyncpg

from radbill import freeradius, health, localenv
from radbill.config import Config, EnvReader
from radbill.db.cluster import AdoptedProcess, LocalCluster
from radbill.db.migrate import migrate_url
from radbill.errors import RadbillError
from radbill.logfiles import open_log
from radbill.supervise import Child, Supervisor, die_with_supervisor, terminate

log = logging.getLogger("radbill.run")


async def _prepare_database(url: str, config: Config) -> tuple[dict | None, list[dict]]:
    """Migrate; seed the demo ISP when there is no operator yet. Returns the demo credentials if seeded, and the
    credentials of the demo's local fake gateways and WhatsApp Cloud API (to start them)."""
    from radbill.services.demo import seed_demo
    from radbill.services.sealed import seal_plain_values

    applied = await migrate_url(url)
    log.info("migrations: %s", ", ".join(applied) if applied else "up to date")
    conn = await asyncpg.connect(url)
    try:
        sealed = await seal_plain_values(conn)  # a migration never sees the key: plain secrets are sealed here
        if sealed:
            log.info("sealed %d stored secret(s) that were plain text", sealed)
        demo = None
        if not await conn.fetchval("SELECT exists(SELECT 1 FROM operators)"):
            demo = await seed_demo(conn, bkash_url=config.fake_bkash_url, portal_url=config.portal_base_url,
                                   sslcommerz_url=config.fake_sslcommerz_url, whatsapp_url=config.fake_whatsapp_url)
        return demo, await _local_fake_gateways(conn, config) + await _local_fake_whatsapp(conn, config)
    finally:
        await conn.close()


async def _local_fake_gateways(conn: asyncpg.Connection, config: Config) -> list[dict]:
    """The demo's bKash gateway, when it points at the local fake (its credentials opened to start the fake)."""
    from radbill.payments.registry import open_credentials
    from radbill.services.demo_payments import DEMO_GATEWAY_LABEL, DEMO_SSLCOMMERZ_LABEL

    rows = await conn.fetch("SELECT * FROM payment_gateways WHERE kind = 'bkash' AND label = $1 AND base_url = $2"
                            " AND credentials_sealed IS NOT NULL", DEMO_GATEWAY_LABEL, config.fake_bkash_url)
    found = []
    if await conn.fetchval("SELECT exists(SELECT 1 FROM payment_gateways WHERE kind = 'sslcommerz' AND label = $1"
                           " AND base_url = $2)", DEMO_SSLCOMMERZ_LABEL, config.fake_sslcommerz_url):
        found.append({"kind": "sslcommerz"})
    for row in rows[:1]:
        try:
            found.append(open_credentials(row))
        except Exception as exc:  # noqa: BLE001 - the demo gateway is optional; say why it is not started
            log.warning("the demo bKash gateway's credentials do not open (%s): the fake bKash is not started", exc)
    return found


async def _local_fake_whatsapp(conn: asyncpg.Connection, config: Config) -> list[dict]:
    """The WhatsApp senders pointing at the local fake Cloud API (the demo ISP's), with what the fake needs to
    serve them: their opened token and app secret, and where to report messages delivered (the admin)."""
    from radbill.services.demo_whatsapp import demo_senders

    numbers = await demo_senders(conn, config.fake_whatsapp_url)
    if not numbers:
        return []
    host = "127.0.0.1" if config.admin_host in ("", "0.0.0.0", "::") else config.admin_host  # noqa: S104
    return [{"kind": "whatsapp", "numbers": numbers, "status_url": f"http://{host}:{config.admin_port}/whatsapp/webhook"}]


def _start_fake_whatsapp(config: Config, supervisor: Supervisor, log_dir: Path, credentials: dict) -> None:
    path = localenv.VAR_DIR / "fake-whatsapp.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"numbers": credentials["numbers"], "status_url": credentials["status_url"]}, out)
    # not waited for: nothing needs it until an event goes by WhatsApp, and the outbox retries a send that comes
    # before it listens, so `make run` starts no slower
    supervisor.add(_python_child("fake-whatsapp", ["-m", "radbill.fakes.whatsapp_cloud", "--port",
                                                   str(config.fake_whatsapp_port), "--credentials-file", str(path)],
                                 log_dir / "fake-whatsapp.log", lambda process: None))
    log.info("local test WhatsApp Cloud API (demo) on %s (log %s)", config.fake_whatsapp_url,
             log_dir / "fake-whatsapp.log")


def _start_fake_sslcommerz(config: Config, supervisor: Supervisor, log_dir: Path) -> None:
    supervisor.add(_python_child("fake-sslcommerz", ["-m", "radbill.payments.fakes.sslcommerz", "--port",
                                                     str(config.fake_sslcommerz_port)],
                                 log_dir / "fake-sslcommerz.log", _wait_tcp("127.0.0.1", config.fake_sslcommerz_port)))
    log.info("local test SSLCommerz (demo) on %s (log %s)", config.fake_sslcommerz_url,
             log_dir / "fake-sslcommerz.log")


def _start_fake_bkash(config: Config, supervisor: Supervisor, log_dir: Path, credentials: dict) -> None:
    path = localenv.VAR_DIR / "fake-bkash.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(credentials, out)
    supervisor.add(_python_child("fake-bkash", ["-m", "radbill.payments.fakes.bkash", "--port",
                                                str(config.fake_bkash_port), "--credentials-file", str(path)],
                                 log_dir / "fake-bkash.log", _wait_tcp("127.0.0.1", config.fake_bkash_port)))
    log.info("local test bKash (demo) on %s (log %s)", config.fake_bkash_url, log_dir / "fake-bkash.log")


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
        out = open_log(log_path)  # owned by the child from here on
        process = subprocess.Popen([sys.executable, *args], env=os.environ.copy(), stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=die_with_supervisor())
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

    other = _other_run()
    if other is not None:
        log.error("another `radbill run` (pid %s) is using %s; stop it first (Ctrl-C in its terminal)",
                  other, localenv.VAR_DIR)
        return 1
    _run_pid_file().write_text(f"{os.getpid()}\n")
    try:
        return _run(config, supervisor, log_dir)
    finally:
        _run_pid_file().unlink(missing_ok=True)


def _run_pid_file() -> Path:
    return localenv.VAR_DIR / "run.pid"


def _other_run() -> int | None:
    """The pid of a `radbill run` still alive on this var/ (its pid file may be stale: check the process)."""
    try:
        pid = int(_run_pid_file().read_text().strip())
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    is_run = b"run" in args and any(b"radbill" in arg for arg in args)
    return pid if is_run and pid != os.getpid() else None


def _open_embedded(cluster: LocalCluster, log_path: Path) -> subprocess.Popen | AdoptedProcess:
    """Start var/pg, or take over the one an earlier run left behind (found by its postmaster.pid)."""
    running = cluster.running_postmaster()
    if running is not None and running.port == cluster.port:
        log.warning("PostgreSQL (pid %s) left running by an earlier run still serves %s; using it",
                    running.pid, cluster.datadir)
        return cluster.adopt(running.pid)
    if running is not None:
        log.warning("stopping PostgreSQL (pid %s) left running by an earlier run on port %s; radbill uses %s",
                    running.pid, running.port, cluster.port)
        cluster.process = AdoptedProcess(running.pid)
        cluster.stop()
    if localenv.cluster_running(cluster):
        raise RadbillError(f"something else listens on 127.0.0.1:{cluster.port}; it is not radbill's PostgreSQL "
                           f"(data in {cluster.datadir}): stop it, or change RADBILL_PG_PORT in {localenv.ENV_FILE}")
    return cluster.start(log=log_path)


def _postgres_child(cluster: LocalCluster, log_path: Path) -> Child:
    def restart() -> subprocess.Popen | AdoptedProcess:
        process = cluster.start_or_adopt(log=log_path)
        if isinstance(process, AdoptedProcess):
            log.warning("PostgreSQL was restarted outside radbill (e.g. pg_ctl restart); watching pid %s",
                        process.pid)
        return process

    return Child("postgres", start=restart, stop=lambda p: cluster.stop(), current=lambda: cluster.process,
                 process=cluster.process)


def _run(config: Config, supervisor: Supervisor, log_dir: Path) -> int:
    cluster = None
    if localenv.uses_embedded_database():
        cluster = localenv.embedded_cluster()
        try:
            _open_embedded(cluster, log_dir / "postgres.log")
        except RadbillError as exc:
            log.error("%s", exc)
            return 1
        supervisor.add(_postgres_child(cluster, log_dir / "postgres.log"))
        log.info("embedded PostgreSQL on 127.0.0.1:%s (data in %s, log in %s)",
                 cluster.port, cluster.datadir, log_dir / "postgres.log")
    radius = None
    try:
        demo, fakes = asyncio.run(_prepare_database(config.owner_url.reveal(), config))
        if demo:
            _announce_demo(config, demo)
        for credentials in fakes:
            if credentials.get("kind") == "sslcommerz":
                _start_fake_sslcommerz(config, supervisor, log_dir)
            elif credentials.get("kind") == "whatsapp":
                _start_fake_whatsapp(config, supervisor, log_dir, credentials)
            else:
                _start_fake_bkash(config, supervisor, log_dir, credentials)
        settings = freeradius.RadiusSettings(
            database_url=config.radius_url.reveal(), state_dir=localenv.VAR_DIR / "radius",
            host=config.radius_host, auth_port=config.radius_auth_port, acct_port=config.radius_acct_port,
            reject_delay=int(os.environ.get("RADBILL_REJECT_DELAY", "1")),
            acct_interim_interval=config.acct_interim_interval,
            status_port=health.HealthSettings.from_env().status_port,
            status_secret=os.environ.get("RADBILL_RADIUS_STATUS_SECRET", ""),
            probe_seconds=EnvReader(os.environ).number("RADBILL_RADIUS_PROBE_SECONDS", 5.0, 0.2, 60.0),
            threads=freeradius.threads_from(os.environ),
            acct_write=freeradius.acct_write_from(os.environ))
        radius = freeradius.RadiusService(settings, log_path=log_dir / "freeradius.log")
        radius.die_with_supervisor = True  # restarts run on our main thread or on its NAS watcher (lives as long)
        radius.start()
        radius.watch_nas_changes()
        radius.watch_answers()
        supervisor.add(Child("freeradius", start=radius.start, stop=lambda p: radius.stop(),
                             current=lambda: radius.process, process=radius.process))
        log.info("FreeRADIUS on %s auth %s acct %s (log %s)", config.radius_host, config.radius_auth_port,
                 config.radius_acct_port, log_dir / "freeradius.log")
        for worker in range(1, config.admin_workers + 1):  # one port, shared (admin.app.main)
            name = "admin" if worker == 1 else f"admin-{worker}"
            supervisor.add(_python_child(name, ["-m", "admin"], log_dir / f"{name}.log",
                                         _wait_tcp(config.admin_host, config.admin_port)))
        log.info("admin on http://%s:%s, %s worker(s) (log %s)", config.admin_host, config.admin_port,
                 config.admin_workers, log_dir / "admin.log")
        supervisor.add(_python_child("portal", ["-m", "portal"], log_dir / "portal.log",
                                     _wait_tcp(config.admin_host, config.portal_port)))
        log.info("customer portal (log in, bills, pay) on http://%s:%s, public address %s (log %s)", config.admin_host,
                 config.portal_port, config.portal_base_url, log_dir / "portal.log")
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
