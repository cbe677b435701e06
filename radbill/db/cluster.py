"""An embedded PostgreSQL cluster in a directory of ours (var/pg for `make run`, a temp dir for tests)."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from radbill.errors import RadbillError
from radbill.logfiles import open_log

PG_BIN = Path(os.environ.get("RADBILL_PG_BIN", "/usr/lib/postgresql/15/bin"))


def pg_tool(name: str) -> str:
    """Path of a PostgreSQL server binary (initdb, postgres, pg_dump...) from Debian's postgresql-15."""
    path = PG_BIN / name
    if not path.exists():
        raise RadbillError(f"{path} is missing: install Debian's postgresql-15 (`make deps` does it)")
    return str(path)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AdoptedProcess:
    """A postmaster we did not start (restarted by `pg_ctl`, or left by an earlier run), watched by its pid.

    It is not our child, so there is no exit code to collect: it is gone when /proc says so (a zombie counts as
    gone: its parent, not us, must reap it). Offers the part of Popen that the supervisor and `stop` use."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _alive(self.pid):
            self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"postgres pid {self.pid}", timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass(frozen=True)
class RunningPostmaster:
    pid: int
    port: int


# Who connects as whom (sql/migrations/0017): the owner only migrates; the admin and scheduler are radbill_app,
# FreeRADIUS radbill_radius. Neither of those owns anything, so row-level security applies to them.
OWNER, APP, RADIUS = "radbill", "radbill_app", "radbill_radius"


@dataclass(frozen=True)
class ClusterCredentials:
    port: int
    superuser_password: str
    app_password: str  # the owner's (the name predates the non-owner roles)
    login_passwords: dict[str, str] = field(default_factory=dict)  # radbill_app, radbill_radius

    def url(self, database: str = "radbill", user: str = OWNER) -> str:
        if user == "postgres":
            password = self.superuser_password
        else:
            password = self.login_passwords[user] if user in (APP, RADIUS) else self.app_password
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"


def create_login_roles(conn, passwords: dict[str, str]) -> None:
    """Create (or re-password) the non-owner roles with LOGIN; `conn` is a superuser's or a CREATEROLE owner's.
    No superuser, no BYPASSRLS, no ownership: the row-level policies of migration 0017 apply to them."""
    from psycopg import sql

    for role, password in passwords.items():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)))


class LocalCluster:
    """initdb once into `datadir`, then run `postgres` as a child process on 127.0.0.1:port.

    As root the server runs as the `postgres` OS user (PostgreSQL refuses to run as root), so the
    data and socket directories are handed to that user.
    """

    def __init__(self, datadir: Path, port: int, settings: dict[str, str] | None = None):
        self.datadir = Path(datadir)
        self.settings = dict(settings or {})  # every start's -c options (a start's own settings win)
        self.socket_dir = self.datadir.parent / (self.datadir.name + "-socket")
        self.port = port
        self.process: subprocess.Popen | AdoptedProcess | None = None
        self._run_as = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    @property
    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def _popen_kwargs(self) -> dict:
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def _hand_over(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
        if self._run_as is not None:
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def _check_reachable(self) -> None:
        if self._run_as is None:
            return
        probe = subprocess.run(["test", "-x", str(self.datadir.parent)], **self._popen_kwargs())
        if probe.returncode != 0:
            raise RadbillError(
                f"the postgres OS user cannot reach {self.datadir.parent}: a parent directory is private "
                "(e.g. /root); clone radbill somewhere world-traversable or set DATABASE_URL"
            )

    def init(self) -> ClusterCredentials:
        """Create the cluster with generated passwords; returns the credentials (store them: shown once)."""
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.datadir)
        self._check_reachable()
        creds = ClusterCredentials(self.port, secrets.token_urlsafe(24), secrets.token_urlsafe(24),
                                   {APP: secrets.token_urlsafe(24), RADIUS: secrets.token_urlsafe(24)})
        pwfile = self.datadir.parent / f".{self.datadir.name}-pwfile"
        pwfile.touch(mode=0o600)
        pwfile.write_text(creds.superuser_password + "\n")
        if self._run_as is not None:
            os.chown(pwfile, self._run_as.pw_uid, self._run_as.pw_gid)
        try:
            subprocess.run(
                [pg_tool("initdb"), "-D", str(self.datadir), "-U", "postgres", f"--pwfile={pwfile}",
                 "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **self._popen_kwargs(),
            )
        except subprocess.CalledProcessError as exc:
            raise RadbillError(f"initdb failed: {exc.stderr.decode(errors='replace').strip()}") from None
        finally:
            pwfile.unlink(missing_ok=True)
        try:
            self.start()
            try:
                self._create_app_role(creds)
            finally:
                self.stop()
        except BaseException:
            # a half-made cluster would look initialised next time, without credentials: start over instead
            shutil.rmtree(self.datadir, ignore_errors=True)
            raise
        return creds

    def _create_app_role(self, creds: ClusterCredentials) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(creds.url("postgres", "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE radbill LOGIN CREATEDB PASSWORD {}").format(sql.Literal(creds.app_password)))
            create_login_roles(conn, creds.login_passwords)
            conn.execute("CREATE DATABASE radbill OWNER radbill")

    def running_postmaster(self) -> RunningPostmaster | None:
        """The live postmaster serving OUR data directory, from its postmaster.pid, or None.

        A pid file outlives a crash and its pid may be reused, so the pid only counts if that process is a
        `postgres` whose working directory is this data directory (the postmaster chdirs there)."""
        try:
            lines = (self.datadir / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            exe = Path(os.readlink(f"/proc/{pid}/exe")).name
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            return None
        if not _alive(pid) or exe != "postgres" or cwd != self.datadir.resolve():
            return None
        return RunningPostmaster(pid, port)

    def adopt(self, pid: int, timeout: float = 30.0) -> AdoptedProcess:
        """Watch a postmaster someone else started on our data directory, once it accepts connections."""
        self.process = AdoptedProcess(pid)
        self._wait_accepting(timeout, lambda: f"postgres pid {pid} exited before accepting connections")
        return self.process

    def start_or_adopt(self, log: Path | None = None, settings: dict[str, str] | None = None
                       ) -> subprocess.Popen | AdoptedProcess:
        """Adopt a postmaster already serving our data directory on our port, else start one.

        After `pg_ctl restart` the new postmaster is not our child: fighting it for the data directory would
        fail (postmaster.pid is a lock), so it is watched instead. If one appears while ours starts, that one."""
        running = self.running_postmaster()
        if running is not None and running.port == self.port:
            return self.adopt(running.pid)
        try:
            return self.start(log=log, settings=settings)
        except RadbillError:
            running = self.running_postmaster()
            if running is None or running.port != self.port:
                raise
            return self.adopt(running.pid)

    def _wait_accepting(self, timeout: float, exited: Callable[[], str]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RadbillError(exited())
            ready = subprocess.run([pg_tool("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)])
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise RadbillError(f"postgres did not accept connections within {timeout:.0f}s")

    def start(self, log: Path | None = None, timeout: float = 30.0, settings: dict[str, str] | None = None
              ) -> subprocess.Popen:
        """Start `postgres` as a child and wait until it accepts connections."""
        self._hand_over(self.socket_dir)
        options = {"max_connections": "200", **self.settings, **(settings or {})}
        log = log or self.datadir.parent / f"{self.datadir.name}.log"
        out = open_log(log)  # owned by the child from here on
        self.process = subprocess.Popen(
            [pg_tool("postgres"), "-D", str(self.datadir), "-p", str(self.port), "-h", "127.0.0.1",
             "-k", str(self.socket_dir), *[arg for k, v in options.items() for arg in ("-c", f"{k}={v}")]],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **self._popen_kwargs(),
        )

        def exited() -> str:
            lines = Path(log).read_text(errors="replace").strip().splitlines()
            tail = " | ".join(([x for x in lines if "could not" in x or "FATAL" in x] or lines)[-3:])
            return f"postgres exited with code {self.process.returncode}: {tail} (log: {log})"

        self._wait_accepting(timeout, exited)
        return self.process

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, checkpoint, exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)
