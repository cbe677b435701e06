"""`radbill radius`: one RADIUS node alone (FreeRADIUS + radbill's module) against a remote PostgreSQL.

What a node runs: FreeRADIUS with raddb/ (the module's worker thread inside it keeps the snapshot live, folds the
accounting journal, loads this node's post-auth spool and writes outbox rows) and the router watcher that rewrites
the clients file from the nas table and restarts FreeRADIUS when a router is added. No embedded PostgreSQL, no
migrations (the primary runs `radbill migrate`), no admin, portal or scheduler: the one scheduler sends every
Disconnect/CoA to the router named in the session, whichever node saw it.

What each node owns: its var directory (clients file, post-auth spool, logs, the handover marks) and its snapshot
in memory. What the nodes share is the database: policy, nas, the accounting journal (folded once, under an
advisory lock), radacct, and the fold feed through which each node's session tracker learns what another folded
(radius_module/peers.py)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from radbill import freeradius
from radbill.config import EnvReader
from radbill.errors import ConfigError, RadbillError
from radbill.supervise import Child, Supervisor

log = logging.getLogger("radbill.radius_node")
SCHEMA_CHECK = "SELECT to_regclass('radius_nodes') IS NOT NULL"


@dataclass(frozen=True)
class NodeOptions:
    database_url: str
    var_dir: Path
    listen: str = "0.0.0.0"
    auth_port: int = 1812
    acct_port: int = 1813
    node_name: str = ""


def options_from(args, env=None) -> NodeOptions:
    """The command line over the environment (EnvironmentFile=/etc/radbill/radbill.env under systemd)."""
    env = os.environ if env is None else env
    reader = EnvReader(env)
    url = args.database_url or env.get("RADIUS_DATABASE_URL") or env.get("DATABASE_URL")
    if not url:
        raise ConfigError("give the RADIUS role's database URL: --database-url, or RADIUS_DATABASE_URL in the "
                          "environment (`radbill db-roles` prints it)")
    var_dir = args.var or env.get("RADBILL_VAR_DIR")
    if not var_dir:
        raise ConfigError("give a directory this node may write (--var, or RADBILL_VAR_DIR), e.g. /var/lib/radbill")
    return NodeOptions(
        database_url=url, var_dir=Path(var_dir),
        listen=args.listen or env.get("RADBILL_RADIUS_HOST") or "0.0.0.0",
        auth_port=args.auth_port or reader.port("RADBILL_RADIUS_AUTH_PORT", 1812),
        acct_port=args.acct_port or reader.port("RADBILL_RADIUS_ACCT_PORT", 1813),
        node_name=args.node_name or env.get("RADBILL_NODE_NAME", ""))


def settings_for(options: NodeOptions, env=None) -> freeradius.RadiusSettings:
    env = os.environ if env is None else env
    reader = EnvReader(env)
    return freeradius.RadiusSettings(
        database_url=options.database_url, state_dir=options.var_dir / "radius", host=options.listen,
        auth_port=options.auth_port, acct_port=options.acct_port,
        reject_delay=reader.integer("RADBILL_REJECT_DELAY", 1, 0, 5),
        acct_interim_interval=reader.integer("RADBILL_ACCT_INTERIM_INTERVAL", 300, 60, 86400),
        status_port=reader.integer("RADBILL_RADIUS_STATUS_PORT", 0, 0, 65535),  # 0: a free one
        status_secret=env.get("RADBILL_RADIUS_STATUS_SECRET", ""), node_name=options.node_name,
        probe_seconds=reader.number("RADBILL_RADIUS_PROBE_SECONDS", 5.0, 0.2, 60.0),
        threads=freeradius.threads_from(env), acct_write=freeradius.acct_write_from(env))


def check_database(url: str) -> None:
    """Reachable, and migrated far enough for several nodes (a node never migrates: its role may not)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            migrated = conn.execute(SCHEMA_CHECK).fetchone()[0]
    except psycopg.OperationalError as exc:
        raise RadbillError(f"cannot reach the database: {str(exc).strip()}; check the URL, pg_hba.conf and the "
                           "firewall (README: 'Two RADIUS servers')") from None
    if not migrated:
        raise RadbillError("the database is not migrated for RADIUS nodes: run `radbill migrate` on the primary")


def claim_var(var_dir: Path):
    """Hold var_dir for this process: two nodes in one directory would overwrite each other's clients file and
    load each other's spool. The lock goes with the process (or with the returned file, when closed)."""
    import fcntl

    (var_dir / "radius").mkdir(parents=True, exist_ok=True)
    lock = open(var_dir / "radius" / "node.lock", "a")  # noqa: SIM115 - held for the node's lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RadbillError(f"another RADIUS node is using {var_dir}: give each node its own --var") from None
    return lock


def start_node(options: NodeOptions, env=None, *, die_with_supervisor: bool = False) -> freeradius.RadiusService:
    """FreeRADIUS started and answering, with the router watcher running; the caller stops it (service.stop()).
    `die_with_supervisor`: the kernel stops FreeRADIUS if this process dies, even by SIGKILL."""
    check_database(options.database_url)
    lock = claim_var(options.var_dir)
    (options.var_dir / "log").mkdir(parents=True, exist_ok=True)
    service = freeradius.RadiusService(settings_for(options, env), log_path=options.var_dir / "log" / "freeradius.log")
    service.var_lock = lock  # released when the service (and with it the node) goes away
    service.die_with_supervisor = die_with_supervisor
    service.start()
    service.watch_nas_changes()
    service.watch_answers()
    return service


def run_node(options: NodeOptions) -> int:
    """Foreground until SIGTERM/SIGINT; FreeRADIUS is restarted if it dies."""
    service = start_node(options, die_with_supervisor=True)
    supervisor = Supervisor()
    supervisor.add(Child("freeradius", start=service.start, stop=lambda p: service.stop(),
                         current=lambda: service.process, process=service.process))
    log.info("RADIUS node %s on %s auth %s acct %s (FreeRADIUS log %s)", options.node_name or "(host name)",
             options.listen, options.auth_port, options.acct_port, options.var_dir / "log" / "freeradius.log")
    try:
        return supervisor.run()
    finally:
        service.stop()
