"""Take a backup of the configured database and var/radbill.env; restore one onto an empty var/ (a new embedded
cluster) or onto a given empty database. Debian's PostgreSQL 15 pg_dump/pg_restore match the server."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from radbill import localenv
from radbill.backup.archive import BackupError, read_archive, write_archive
from radbill.db.cluster import APP, OWNER, RADIUS, LocalCluster, create_login_roles, pg_tool
from radbill.i18n import _

# the settings that say where the embedded database is: meaningless for a database radbill does not host
DATABASE_KEYS = ("DATABASE_URL", "MIGRATE_DATABASE_URL", "RADIUS_DATABASE_URL", "RADBILL_PG_PORT")


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    migration: str | None


def _version() -> str:
    try:
        return metadata.version("radbill")
    except metadata.PackageNotFoundError:
        return "unknown"


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [x for x in done.stderr.strip().splitlines() if x.strip()]
        raise BackupError(_("%(what)s failed: %(error)s", what=what, error=" | ".join(lines[-3:]) or done.returncode))


def migration_level(url: str) -> str | None:
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return row[0] if row else None


def take_backup(owner_url: str, out_dir: Path, passphrase: str | None = None, env_file: Path | None = None,
                now: datetime | None = None, label: str = "manual") -> BackupResult:
    """pg_dump (custom format) as the schema owner + the secrets file, into one archive in `out_dir`."""
    now = now or datetime.now(UTC)
    env_file = env_file or localenv.ENV_FILE
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    suffix = ".tar.aes" if passphrase else ".tar"
    target = out_dir / f"radbill-{label}-{now:%Y%m%dT%H%M%SZ}{suffix}"
    env_text = env_file.read_text() if env_file.exists() else ""
    work = Path(tempfile.mkdtemp(prefix="radbill-backup-", dir=out_dir))
    try:
        dump = work / "database.dump"
        # the owner bypasses row-level security, so every tenant's rows are in the dump (pg_dump refuses otherwise)
        _run([pg_tool("pg_dump"), "--format=custom", "--no-password", f"--file={dump}", owner_url], "pg_dump")
        level = migration_level(owner_url)
        manifest = {"radbill_version": _version(), "migration": level, "created_at": now.isoformat(),
                    "label": label}
        size = write_archive(target, manifest, dump, env_text, passphrase)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BackupResult(target, size, level)


def _has_objects(url: str) -> bool:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute(
            "SELECT exists(SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
            "   AND n.nspname NOT LIKE 'pg_temp%')").fetchone()[0]


def _missing_roles(url: str) -> list[str]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        found = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                                            ([APP, RADIUS],)).fetchall()}
    return [r for r in (APP, RADIUS) if r not in found]


def _pg_restore(dump: Path, url: str) -> None:
    # one transaction: a restore that fails half-way leaves the target as empty as it was
    _run([pg_tool("pg_restore"), "--no-password", "--single-transaction", "--exit-on-error", f"--dbname={url}",
          str(dump)], "pg_restore")


def restore_into(archive: Path, database_url: str, passphrase: str | None = None) -> dict:
    """Restore into a given EMPTY database (its owner's URL); the secrets go to var/radbill.env without the
    embedded-database settings. Returns the manifest."""
    if _has_objects(database_url):
        raise BackupError(_("The target database is not empty: radbill restores only into an empty database, so "
                            "nothing there is overwritten. Create a new database (or drop this one) and try again."))
    missing = _missing_roles(database_url)
    if missing:
        raise BackupError(_("The roles %(roles)s do not exist on the target server: run `radbill db-roles "
                            "--owner-url URL` first, then restore again.", roles=", ".join(missing)))
    with tempfile.TemporaryDirectory(prefix="radbill-restore-") as work:
        unpacked = read_archive(archive, Path(work), passphrase)
        _pg_restore(unpacked.dump_path, database_url)
    values = {k: v for k, v in _parse_env(unpacked.env_text).items() if k not in DATABASE_KEYS}
    _write_secrets(values, localenv.ENV_FILE)
    return unpacked.manifest


def _parse_env(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _sep, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _write_secrets(values: dict[str, str], path: Path) -> None:
    """Put the backed-up secrets into var/radbill.env; an existing file keeps its values (its keys win)."""
    merged = {**values, **localenv.read_env_file(path)}
    localenv.write_env_file(merged, path)


def _var_is_empty() -> bool:
    cluster = localenv.embedded_cluster()
    return not localenv.ENV_FILE.exists() and not cluster.initialised


def restore_embedded(archive: Path, passphrase: str | None = None, port: int | None = None) -> dict:
    """Restore onto an empty var/: a new embedded cluster (on the backed-up port, with the backed-up role
    passwords, so the restored var/radbill.env works unchanged), the dump, then the secrets file."""
    if not _var_is_empty():
        raise BackupError(_("%(var)s is not empty: radbill restores only onto an empty var/, so nothing there is "
                            "overwritten. Move it away (or give an empty database with --database-url) and try "
                            "again.", var=localenv.VAR_DIR))
    with tempfile.TemporaryDirectory(prefix="radbill-restore-") as work:
        unpacked = read_archive(archive, Path(work), passphrase)  # checked before var/ is touched
        values = _parse_env(unpacked.env_text)
        port = port or int(values.get("RADBILL_PG_PORT") or localenv.DEFAULT_PG_PORT)
        cluster = LocalCluster(localenv.VAR_DIR / "pg", port)
        try:
            _restore_cluster(cluster, values, unpacked.dump_path)
        except BaseException:
            cluster.destroy()  # a half-restored var/ would look initialised next time
            raise
    localenv.write_env_file(values, localenv.ENV_FILE)
    return unpacked.manifest


def _restore_cluster(cluster: LocalCluster, values: dict[str, str], dump: Path) -> None:
    creds = cluster.init()
    passwords = _backed_up_passwords(values)
    if passwords is None:  # the backup came from a database radbill did not host: point var/ at the new one
        values.update(DATABASE_URL=creds.url(user=APP), MIGRATE_DATABASE_URL=creds.url(),
                      RADIUS_DATABASE_URL=creds.url(user=RADIUS))
    values["RADBILL_PG_PORT"] = str(cluster.port)
    log_dir = localenv.VAR_DIR / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    cluster.start(log=log_dir / "postgres.log")
    try:
        with psycopg.connect(creds.url("postgres", "postgres"), autocommit=True) as conn:
            if passwords is not None:
                create_login_roles(conn, passwords)  # radbill_app, radbill_radius and the owner, as backed up
        # as the superuser: COMMENT ON EXTENSION and the like need more than the owner has
        _pg_restore(dump, creds.url(user="postgres"))
        if passwords is not None:
            for key in ("DATABASE_URL", "MIGRATE_DATABASE_URL", "RADIUS_DATABASE_URL"):
                values[key] = _with_port(values[key], cluster.port)
    finally:
        cluster.stop()


def _backed_up_passwords(values: dict[str, str]) -> dict[str, str] | None:
    urls = {OWNER: values.get("MIGRATE_DATABASE_URL"), APP: values.get("DATABASE_URL"),
            RADIUS: values.get("RADIUS_DATABASE_URL")}
    passwords = {}
    for role, url in urls.items():
        params = conninfo_to_dict(url) if url else {}
        if params.get("user") != role or not params.get("password") or "RADBILL_PG_PORT" not in values:
            return None
        passwords[role] = params["password"]
    return passwords


def _with_port(url: str, port: int) -> str:
    from psycopg.conninfo import make_conninfo

    params = conninfo_to_dict(url)
    if str(params.get("port")) == str(port):
        return url
    user, password, db = params["user"], params["password"], params.get("dbname", "radbill")
    return f"postgresql://{user}:{password}@127.0.0.1:{port}/{db}" if "://" in url else make_conninfo(
        url, port=str(port))

