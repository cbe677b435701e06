"""The benchmark's world: a throwaway Postgres cluster with N customers, and the FreeRADIUS servers under test.

Everything started here is remembered and stopped by its PID in `Lab.close()`, which also destroys the cluster.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from radbill import freeradius
from radbill.db.cluster import LocalCluster, free_port
from radbill.db.migrate import migrate_url
from radbill.passwords import generate_nas_secret
from radbill.policy import Speeds

BENCH_DIR = Path(__file__).resolve().parent
STOCK_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")
STOCK_AUTHZ_TABLES = ("radcheck", "radgroupcheck", "radgroupreply", "radreply", "radusergroup")
STOCK_ACCT_TABLE = "radacct_stock"  # bench/raddb_stock_sql/mods/sql acct_table1/2
PACKAGE_SPEEDS = Speeds(10240, 5120)
ACCT_INTERIM_INTERVAL = 300

SEED_CUSTOMERS = """
    INSERT INTO customers (operator_id, username, radius_password, name, connection_type, package_id,
                           billing_profile_id)
    SELECT %(operator)s, 'bench' || lpad(i::text, 6, '0'), substr(md5(random()::text || i::text), 1, 12),
           'Bench customer ' || i, 'pppoe', %(package)s, %(profile)s
      FROM generate_series(1, %(users)s) AS i
"""
SEED_STOCK = (
    """INSERT INTO radcheck (username, attribute, op, value)
       SELECT username, 'Cleartext-Password', ':=', radius_password FROM customers ORDER BY id""",
    """INSERT INTO radreply (username, attribute, op, value)
       SELECT username, a.attribute, '=', a.value
         FROM customers,
              (VALUES (1, 'Mikrotik-Rate-Limit', %(rate)s), (2, 'Acct-Interim-Interval', %(interim)s))
              AS a (n, attribute, value)
        ORDER BY customers.id, a.n""",
)

def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stock_authz_schema() -> str:
    """CREATE TABLE/INDEX statements of the stock authorization tables and radacct (as radacct_stock), taken from
    FreeRADIUS's own schema."""
    text = re.sub(r"/\*.*?\*/", "", STOCK_SCHEMA.read_text(), flags=re.S)
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    statements = [s.strip() for s in text.split(";") if s.strip()]
    table_of = re.compile(r"(?is)^create\s+(?:table\s+if\s+not\s+exists\s+(\w+)|index\s+\w+\s+on\s+(\w+))")
    wanted = []
    for statement in statements:
        match = table_of.match(statement)
        table = (match.group(1) or match.group(2)).lower() if match else ""
        if table in STOCK_AUTHZ_TABLES:
            wanted.append(statement)
        elif table == "radacct":
            # the stock queries' ON CONFLICT (AcctUniqueId) needs the stock single table; radbill's radacct is
            # partitioned by month (migration 0043), so stock rlm_sql writes its own copy, indexes included
            wanted.append(re.sub(r"(?i)\bradacct", STOCK_ACCT_TABLE, statement))
    if len(wanted) < 2 * len(STOCK_AUTHZ_TABLES):
        raise RuntimeError(f"could not find the stock authorization tables in {STOCK_SCHEMA}")
    return ";\n".join(wanted) + ";"


def proc_cpu_split(pid: int) -> tuple[float, float]:
    """(utime + stime of one process, all its threads; the same of its children that exited and were waited for)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def proc_rss_mb(pid: int) -> float:
    """Resident memory of one process, MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads)."""
    return proc_cpu_split(pid)[0]


def tree_cpu_seconds(root: int) -> float:
    """CPU of a process and its direct children, live or ended (the postmaster and its backends): a backend's CPU
    moves from its own counters to the postmaster's children's when it ends, so a delta stays whole."""
    total = sum(proc_cpu_split(root))
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == root:
                total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_idle_seconds() -> float:
    """Idle CPU-seconds of the whole machine since boot (all cores)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return (int(fields[3]) + int(fields[4])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    settings: freeradius.RadiusSettings

    @property
    def log_dir(self) -> Path:
        return self.settings.state_dir / "log"


class Lab:
    def __init__(self, users: int):
        self.users_count = users
        self.base = Path(tempfile.mkdtemp(prefix="radbill-bench-"))
        self.base.chmod(0o755)  # the postgres OS user must traverse it
        self.cluster: LocalCluster | None = None
        self.db_url = ""
        self.secret = generate_nas_secret()
        self.users: list[tuple[str, str]] = []
        self.servers: list[Server] = []
        self.pg_settings: dict[str, str] = {}  # e.g. shared_buffers for a bench at size
        self.radius_threads = 4  # radbill's FreeRADIUS worker threads (RADBILL_RADIUS_THREADS)
        self.acct_write = "sql"  # RADBILL_ACCT_WRITE

    # --- database -------------------------------------------------------------------------------------------
    def start_database(self) -> None:
        self.cluster = LocalCluster(self.base / "pg", free_port())
        creds = self.cluster.init()
        # as tests/conftest.py: durability is irrelevant for a throwaway cluster (it flatters accounting writes
        # equally for radbill and stock rlm_sql)
        self.cluster.start(log=self.base / "postgres.log",
                           settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                                     **self.pg_settings})
        self.db_url = creds.url("radbill")
        asyncio.run(migrate_url(self.db_url))

    def seed(self) -> None:
        """N customers in one statement, the NAS, and the same users in the stock radcheck/radreply tables."""
        with psycopg.connect(self.db_url, autocommit=False) as conn:
            root = conn.execute("INSERT INTO operators (kind, name) VALUES ('group_admin', 'Bench ISP') "
                                "RETURNING id").fetchone()[0]
            operator = conn.execute("INSERT INTO operators (kind, parent_id, name) VALUES ('operator', %s, "
                                    "'Bench operator') RETURNING id", (root,)).fetchone()[0]
            package = conn.execute(
                "INSERT INTO packages (operator_id, name, download_kbps, upload_kbps, price_minor) "
                "VALUES (%s, 'Bench 10M', %s, %s, 50000) RETURNING id",
                (operator, PACKAGE_SPEEDS.download_kbps, PACKAGE_SPEEDS.upload_kbps)).fetchone()[0]
            profile = conn.execute(
                "INSERT INTO billing_profiles (operator_id, name, cycle_kind, billing_day, billing_type) "
                "VALUES (%s, 'Monthly', 'fixed_day', 1, 'prepaid') RETURNING id", (operator,)).fetchone()[0]
            conn.execute(SEED_CUSTOMERS, {"operator": operator, "package": package, "profile": profile,
                                          "users": self.users_count})
            conn.execute("INSERT INTO nas (nasname, shortname, secret, operator_id) "
                         "VALUES ('127.0.0.1', 'bench', %s, %s)", (self.secret, operator))
            conn.execute(stock_authz_schema())
            for statement in SEED_STOCK:
                conn.execute(statement, {"rate": PACKAGE_SPEEDS.rate_limit(), "interim": str(ACCT_INTERIM_INTERVAL)})
            self.users = conn.execute("SELECT username, radius_password FROM customers ORDER BY id").fetchall()
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

    def sql(self, query: str, params=None):
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def journal_backlog(self) -> int:
        """Accounting-Requests acknowledged (in radacct_journal) but not yet folded into radacct."""
        return self.sql("SELECT count(*) FROM radacct_journal")[0][0]

    def postgres_cpu(self) -> float:
        return tree_cpu_seconds(self.cluster.process.pid) if self.cluster and self.cluster.process else 0.0

    def write_users_file(self) -> Path:
        # the bare-Python hook's users (bench/raddb_bare_python/bare_hook.py)
        (self.base / "users.tsv").write_text("".join(f"{name}\t{password}\n" for name, password in self.users))
        path = self.base / "users"
        rate = PACKAGE_SPEEDS.rate_limit()
        path.write_text("".join(
            f'{name} Cleartext-Password := "{password}"\n'
            f'\tMikrotik-Rate-Limit = "{rate}",\n\tAcct-Interim-Interval = {ACCT_INTERIM_INTERVAL}\n\n'
            for name, password in self.users))
        return path

    # --- servers --------------------------------------------------------------------------------------------
    def start_radbill(self) -> Server:
        settings = freeradius.RadiusSettings(
            database_url=self.db_url, state_dir=self.base / "radbill", auth_port=free_udp_port(),
            acct_port=free_udp_port(), reject_delay=0, acct_interim_interval=ACCT_INTERIM_INTERVAL,
            threads=self.radius_threads, acct_write=self.acct_write)
        process = freeradius.start(settings)
        return self._ready(Server("radbill", process, settings))

    def start_radbill_bare_hook(self) -> Server:
        """radbill's raddb/ as is (its unlang, post-auth linelog, rlm_sql) with only the python3 hook swapped for
        the bare one: radbill's distance from the bare-Python ceiling split into its config's share and its
        hook's share."""
        raddb = self.base / "raddb_bare_in_radbill"
        if not raddb.exists():
            shutil.copytree(freeradius.RADDB, raddb)
            python3 = raddb / "mods" / "python3"
            text = python3.read_text().replace("module = radius_module.hooks", "module = bare_hook")
            text = text.replace('python_path = "$ENV{RADBILL_PYTHON_PATH}"',
                                f'python_path = "{BENCH_DIR / "raddb_bare_python"}"')
            python3.write_text(re.sub(r"\n\s*(mod|func)_detach = .*", "", text))
        settings = freeradius.RadiusSettings(
            database_url=self.db_url, state_dir=self.base / "bare_in_radbill", auth_port=free_udp_port(),
            acct_port=free_udp_port(), reject_delay=0, acct_interim_interval=ACCT_INTERIM_INTERVAL)
        env = {**os.environ, **freeradius.environment(settings), "RADBILL_RADDB": str(raddb),
               "BENCH_USERS_TSV": str(self.base / "users.tsv"), "BENCH_RATE_LIMIT": PACKAGE_SPEEDS.rate_limit(),
               "BENCH_ACCT_INTERIM": str(ACCT_INTERIM_INTERVAL)}
        command = [str(raddb) if arg == str(freeradius.RADDB) else arg for arg in freeradius.command()]
        out = open(settings.state_dir / "log" / "radiusd.out", "ab")
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        return self._ready(Server("bare_in_radbill", process, settings))

    def start(self, kind: str) -> Server:
        if kind == "radbill":
            return self.start_radbill()
        if kind == "bare_in_radbill":
            return self.start_radbill_bare_hook()
        return self.start_stock(kind)

    def start_stock(self, kind: str) -> Server:
        """kind: 'stock_sql', 'files' or 'bare_python' (bench/raddb_<kind>)."""
        raddb = BENCH_DIR / f"raddb_{kind}"
        state = self.base / kind
        for sub in ("log", "run"):
            (state / sub).mkdir(parents=True, exist_ok=True)
        settings = freeradius.RadiusSettings(database_url=self.db_url, state_dir=state,
                                             auth_port=free_udp_port(), acct_port=free_udp_port(), reject_delay=0)
        db = conninfo_to_dict(self.db_url)
        env = {**os.environ, "BENCH_STATE_DIR": str(state), "BENCH_RADDB": str(raddb),
               "BENCH_AUTH_PORT": str(settings.auth_port), "BENCH_ACCT_PORT": str(settings.acct_port),
               "BENCH_NAS_SECRET": self.secret, "BENCH_SQL_HOST": str(db["host"]),
               "BENCH_SQL_PORT": str(db["port"]), "BENCH_SQL_USER": str(db["user"]),
               "BENCH_SQL_PASSWORD": str(db["password"]), "BENCH_SQL_DATABASE": str(db["dbname"]),
               "BENCH_USERS_FILE": str(self.base / "users"), "BENCH_USERS_TSV": str(self.base / "users.tsv"),
               "BENCH_RATE_LIMIT": PACKAGE_SPEEDS.rate_limit(), "BENCH_ACCT_INTERIM": str(ACCT_INTERIM_INTERVAL)}
        out = open(state / "log" / "radiusd.out", "ab")
        process = subprocess.Popen([freeradius.FREERADIUS, "-f", "-d", str(raddb), "-n", "radiusd", "-l", "stdout"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        return self._ready(Server(kind, process, settings))

    def _ready(self, server: Server) -> Server:
        self.servers.append(server)
        try:
            freeradius.wait_ready(server.settings, self.secret, server.process)
        except Exception as exc:
            raise RuntimeError(f"{server.name}: {exc}\n{self.log_tail(server)}") from None
        return server

    def log_tail(self, server: Server, lines: int = 30) -> str:
        texts = []
        for path in sorted(server.log_dir.glob("*")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            texts.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(texts)

    def stop_server(self, server: Server) -> None:
        process = server.process
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        if server in self.servers:
            self.servers.remove(server)

    def close(self) -> None:
        for server in list(self.servers):
            try:
                self.stop_server(server)
            except Exception:
                pass
        if self.cluster is not None:
            self.cluster.destroy()
        if not os.environ.get("RADBILL_BENCH_KEEP"):
            shutil.rmtree(self.base, ignore_errors=True)
