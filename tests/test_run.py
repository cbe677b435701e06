"""`radbill run` (what `make run` calls): embedded Postgres under var/, migrated, demo ISP, FreeRADIUS;
radtest/explain work against it; Ctrl-C stops everything cleanly; a second run reuses it all."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from radbill.db.cluster import free_port
from radbill.localenv import read_env_file
from tests.support.radius import free_udp_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def var_dir():
    base = Path(tempfile.mkdtemp(prefix="radbill-run-"))  # pytest's tmp_path is private to root
    base.chmod(0o755)
    yield base / "var"
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def run_env(var_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADBILL_") and k != "DATABASE_URL"}
    env.update(RADBILL_VAR_DIR=str(var_dir), RADBILL_PG_PORT=str(free_port()),
               RADBILL_RADIUS_AUTH_PORT=str(free_udp_port()), RADBILL_RADIUS_ACCT_PORT=str(free_udp_port()),
               RADBILL_RADIUS_STATUS_PORT=str(free_udp_port()),
               RADBILL_REJECT_DELAY="0", RADBILL_ADMIN_PORT=str(free_port()),
               RADBILL_PORTAL_PORT=str(free_port()), RADBILL_FAKE_BKASH_PORT=str(free_port()),
               RADBILL_FAKE_SSLCOMMERZ_PORT=str(free_port()), RADBILL_FAKE_WHATSAPP_PORT=str(free_port()))
    return env


def radbill(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radbill.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def start(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "radbill.cli", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(process: subprocess.Popen, needle: str, timeout: float = 90) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    process.kill()
    pytest.fail(f"{needle!r} not seen; output:\n{''.join(seen)}")


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()


def test_run_starts_everything_and_stops_cleanly(run_env, var_dir):
    process = start(run_env)
    try:
        output = wait_for(process, "radbill is running")
        assert "Demo ISP created" in output
        demo = json.loads((var_dir / "demo-credentials.json").read_text())
        assert oct((var_dir / "demo-credentials.json").stat().st_mode & 0o777) == "0o600"
        active = next(c for c in demo["customers"] if c["state"] == "active")
        assert active["password"] in output  # printed once for the operator

        accepted = radbill(run_env, "radtest", "demo-active")
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert "Access-Accept" in accepted.stdout and "Mikrotik-Rate-Limit = 5M/10M" in accepted.stdout
        for method in ("--chap", "--mschap"):
            assert radbill(run_env, "radtest", "demo-active", method).returncode == 0
        suspended = radbill(run_env, "radtest", "demo-suspended")
        assert suspended.returncode == 1 and "Access-Reject" in suspended.stdout
        assert "suspended" in suspended.stdout

        # the admin answers, and a demo login works (http on loopback: the cookie is not Secure)
        import urllib.request

        page = urllib.request.urlopen(f"http://127.0.0.1:{run_env['RADBILL_ADMIN_PORT']}/login", timeout=10)
        assert page.status == 200 and b"Log in" in page.read()
        operator = next(x for x in demo["logins"] if x["role"] == "operator")
        assert admin_login(int(run_env["RADBILL_ADMIN_PORT"]), operator["username"], operator["password"]) \
            == "/password/change"  # a generated password must be replaced at first login

        # the demo's pay link opens on the portal, offering the local test bKash
        assert demo["payments"]["pay_link"] in output
        page = urllib.request.urlopen(demo["payments"]["pay_link"], timeout=10)
        body = page.read()
        assert page.status == 200 and b"Pay with bKash" in body and b"Pay with SSLCommerz" in body
        assert demo["payments"]["bkash"]["url"].endswith(run_env["RADBILL_FAKE_BKASH_PORT"])
        # the local test SSLCommerz answers its validation API (a wrong store is refused, as at the real one)
        fake_ssl = demo["payments"]["sslcommerz"]["url"]
        assert fake_ssl.endswith(run_env["RADBILL_FAKE_SSLCOMMERZ_PORT"])
        answer = urllib.request.urlopen(fake_ssl + "/validator/api/validationserverAPI.php?val_id=x&store_id=x"
                                        "&store_passwd=x&format=json", timeout=10).read()
        assert b"status" in answer
        # the local test WhatsApp Cloud API serves the demo ISP's number (started without holding up the run)
        assert demo["whatsapp"]["url"].endswith(run_env["RADBILL_FAKE_WHATSAPP_PORT"])
        assert _fake_whatsapp_answer(demo["whatsapp"]) == 401  # a token other than the number's

        explained = radbill(run_env, "explain", "demo-expired")
        assert explained.returncode == 1
        # refused as expired; or as suspended when the run met the scheduler's hourly suspend_overdue (minute 20),
        # which suspends a prepaid customer whose validity ran out
        assert "decision: REJECT (reason: expired)" in explained.stdout \
            or "decision: REJECT (reason: suspended)" in explained.stdout, explained.stdout

        settings = read_env_file(var_dir / "radbill.env")
        assert oct((var_dir / "radbill.env").stat().st_mode & 0o777) == "0o600"
        logs = {p.name: oct(p.stat().st_mode & 0o777) for p in [*(var_dir / "log").glob("*.log"),
                                                                  *(var_dir / "radius" / "log").glob("*")]}
        assert {"postgres.log", "freeradius.log", "admin.log", "scheduler.log", "radius.log"} <= set(logs)
        assert set(logs.values()) == {"0o640"}, logs  # logs carry usernames and addresses: not world-readable
        with psycopg.connect(settings["MIGRATE_DATABASE_URL"]) as conn:
            assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 5
        with psycopg.connect(settings["DATABASE_URL"]) as conn:  # the app's role, with no scope: nothing
            assert conn.execute("SELECT current_user, count(*) FROM customers").fetchone() == ("radbill_app", 0)
        assert stop(process) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert not (var_dir / "pg" / "postmaster.pid").exists(), "postgres was left running"
    assert not (var_dir / "radius" / "run" / "radiusd.pid").exists() or _no_process(var_dir)

    # second run: same cluster and credentials, no new demo
    process = start(run_env)
    try:
        output = wait_for(process, "radbill is running")
        assert "migrations: up to date" in output and "Demo ISP created" not in output
        assert read_env_file(var_dir / "radbill.env") == settings
        assert radbill(run_env, "radtest", "demo-active").returncode == 0
    finally:
        assert stop(process) == 0


def _fake_whatsapp_answer(whatsapp: dict, timeout: float = 15) -> int:
    import urllib.error
    import urllib.request

    url = f"{whatsapp['url']}/v21.0/{whatsapp['phone_number_id']}/messages"
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(url, data=b"{}", headers={"Authorization": "Bearer wrong",
                                                                   "Content-Type": "application/json"})
        try:
            return urllib.request.urlopen(request, timeout=5).status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def admin_login(port: int, username: str, password: str) -> str:
    """Log in over real HTTP like a browser (cookie, CSRF token, Origin); returns where the admin sends us."""
    import http.cookiejar
    import re
    import urllib.parse
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    base = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect)
    token = re.search(rb'name="csrf_token" value="([^"]+)"', opener.open(f"{base}/login").read()).group(1).decode()
    body = urllib.parse.urlencode({"username": username, "password": password, "csrf_token": token}).encode()
    request = urllib.request.Request(f"{base}/login", data=body, headers={"Origin": base})
    try:
        opener.open(request)
    except urllib.error.HTTPError as exc:
        assert exc.code == 303, exc.read()
        return exc.headers["Location"]
    raise AssertionError("the login did not redirect")


def _no_process(var_dir: Path) -> bool:
    pid = int((var_dir / "radius" / "run" / "radiusd.pid").read_text().strip() or 0)
    return not Path(f"/proc/{pid}").exists()


def test_demo_json_and_refusal_on_a_seeded_database(run_env):
    first = radbill(run_env, "demo", "--json")
    assert first.returncode == 0, first.stderr
    demo = json.loads(first.stdout)
    assert {c["state"] for c in demo["customers"]} == {"active", "suspended", "expired", "disabled", "static_ip"}
    assert len(demo["nas"]["secret"]) >= 32
    assert demo["radius"]["auth_port"] == int(run_env["RADBILL_RADIUS_AUTH_PORT"])
    assert len({x["password"] for x in demo["logins"]}) == 3  # generated, not shared
    assert "/pay/" in demo["payments"]["pay_link"] and demo["payments"]["bkash"]["app_secret"]
    again = radbill(run_env, "demo")
    assert again.returncode == 2 and "already has operators" in again.stderr
    psql = radbill(run_env, "psql", "-At", "-c", "SELECT count(*) FROM customers")  # options reach psql itself
    assert psql.returncode == 0 and psql.stdout.strip() == "5", psql.stderr


def test_a_failed_first_start_leaves_nothing_half_made(var_dir):
    import socket

    from radbill.db.cluster import LocalCluster
    from radbill.errors import RadbillError

    var_dir.mkdir(parents=True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cluster = LocalCluster(var_dir / "pg", taken.getsockname()[1])
        with pytest.raises(RadbillError, match="already in use"):
            cluster.init()
    assert not cluster.initialised  # the next start initialises again instead of lacking credentials


def pg_ctl(var_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """pg_ctl on var/pg as an admin would run it (as the postgres OS user when we are root)."""
    from radbill.db.cluster import pg_tool

    user = {"user": "postgres", "group": "postgres", "extra_groups": []} if os.geteuid() == 0 else {}
    # the postmaster inherits pg_ctl's output: a file of its own, or our pipes would never reach EOF
    log = var_dir / "pg-socket" / "pg_ctl.log"
    return subprocess.run([pg_tool("pg_ctl"), "-D", str(var_dir / "pg"), "-l", str(log), "-w", *args], cwd=var_dir,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          timeout=60, **user)


def paced_users(demo: dict) -> list[tuple[str, str, int]]:
    from bench.packets import ACCESS_ACCEPT, ACCESS_REJECT

    expected = {"active": ACCESS_ACCEPT, "static_ip": ACCESS_ACCEPT, "suspended": ACCESS_REJECT,
                "expired": ACCESS_REJECT}
    return [(c["username"], c["password"], expected[c["state"]]) for c in demo["customers"] if c["state"] in expected]


def connect_when_ready(url: str, timeout: float = 60.0) -> psycopg.Connection:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg.connect(url)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_postgres_restart_under_run_keeps_radius_answering(run_env, var_dir):
    from bench.pacer import Pacer, summary

    process = start(run_env)
    try:
        wait_for(process, "radbill is running")
        demo = json.loads((var_dir / "demo-credentials.json").read_text())
        with Pacer("127.0.0.1", int(run_env["RADBILL_RADIUS_AUTH_PORT"]), demo["nas"]["secret"], paced_users(demo),
                   rate=50) as pacer:
            time.sleep(3)
            assert pg_ctl(var_dir, "-m", "fast", "restart").returncode == 0
            wait_for(process, "PostgreSQL was restarted outside radbill", timeout=10)
            time.sleep(3)
            # then it crashes: the supervisor starts it again (crash recovery) while RADIUS answers from memory
            os.kill(int((var_dir / "pg" / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
            wait_for(process, "postgres exited with code", timeout=10)
            time.sleep(5)
        figures = summary(pacer.stop())
        assert figures["sent"] >= 500 and figures["unanswered"] == 0 and figures["wrong"] == 0, figures

        # a change committed after the restart reaches FreeRADIUS (the module's worker reconnected and LISTENs)
        settings = read_env_file(var_dir / "radbill.env")
        # crash recovery may still be replaying WAL on a loaded box ("the database system is starting up"):
        # what is under test is that it comes back and the module sees the change, not how fast recovery is
        with connect_when_ready(settings["MIGRATE_DATABASE_URL"]) as conn:  # the app's role would need a scope
            assert conn.execute("UPDATE customers SET status = 'suspended' WHERE username = 'demo-active'"
                                ).rowcount == 1
        deadline = time.monotonic() + 30
        while (reply := radbill(run_env, "radtest", "demo-active")).returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert reply.returncode == 1 and "suspended" in reply.stdout, reply.stdout

        # the admin survived and its pool reconnected: a login reads and writes the database
        operator = next(x for x in demo["logins"] if x["role"] == "operator")
        assert admin_login(int(run_env["RADBILL_ADMIN_PORT"]), operator["username"], operator["password"]) \
            == "/password/change"
        assert stop(process) == 0
        rest = process.stdout.read()
        for crash in ("admin exited", "scheduler exited", "freeradius exited", "stopping everything"):
            assert crash not in rest, rest
    finally:
        if process.poll() is None:
            process.kill()
    assert not (var_dir / "pg" / "postmaster.pid").exists(), "the restarted postgres was left running"


def processes_of_run(var_dir: Path) -> dict[int, str]:
    """pid -> name of every live process started for the run on `var_dir` (its environment names the var/)."""
    marker = f"RADBILL_VAR_DIR={var_dir}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0") \
                    and (entry / "stat").read_text().split(") ")[1][0] != "Z":
                found[int(entry.name)] = (entry / "comm").read_text().strip()
        except OSError:  # gone meanwhile
            continue
    return found


def test_children_die_with_a_killed_run_and_its_cluster_is_adopted(run_env, var_dir):
    process = start(run_env)
    children: dict[int, str] = {}
    try:
        wait_for(process, "radbill is running")
        second = subprocess.run([sys.executable, "-m", "radbill.cli", "run"], cwd=ROOT, env=run_env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and "another `radbill run`" in second.stdout + second.stderr
        children = {pid: name for pid, name in processes_of_run(var_dir).items() if pid != process.pid}
        assert {"freeradius", "postgres"} <= set(children.values()), children
        assert sum(name.startswith("python") for name in children.values()) >= 3, children  # admin, portal, scheduler
        process.kill()  # SIGKILL: the supervisor's own cleanup never runs
        process.wait()
        deadline = time.monotonic() + 10
        while (left := {p: n for p, n in processes_of_run(var_dir).items() if n != "postgres"}) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"still running after the supervisor was killed: {left}"
        assert any(name == "postgres" for name in processes_of_run(var_dir).values())  # kept for the next run
    finally:
        if process.poll() is None:
            process.kill()
        for pid, name in processes_of_run(var_dir).items():  # what the fix should have stopped (by its pid)
            if pid in children and name != "postgres":
                os.kill(pid, signal.SIGKILL)
    process = start(run_env)
    try:
        output = wait_for(process, "radbill is running")
        assert "left running by an earlier run still serves" in output
        assert radbill(run_env, "radtest", "demo-active").returncode == 0
    finally:
        assert stop(process) == 0
    assert not (var_dir / "pg" / "postmaster.pid").exists(), "the adopted postgres was left running"

    # one left on another port cannot serve the configured DATABASE_URL: it is stopped, ours starts
    assert pg_ctl(var_dir, "-o", f"-p {free_port()} -h 127.0.0.1 -k {var_dir / 'pg-socket'}", "start").returncode == 0
    process = start(run_env)
    try:
        output = wait_for(process, "radbill is running")
        assert "stopping PostgreSQL" in output and "left running by an earlier run on port" in output
        assert radbill(run_env, "radtest", "demo-active").returncode == 0
    finally:
        assert stop(process) == 0
    assert not (var_dir / "pg" / "postmaster.pid").exists()
