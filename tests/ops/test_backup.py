"""`radbill backup` / `radbill restore` end to end: seed a demo ISP under a var/ of its own → backup → destroy var/
→ restore → the same customers authenticate through a real FreeRADIUS, every ledger balances as before, the
admin logs in with the old password. Plus what must be refused: a wrong passphrase, a damaged archive, a target
that is not empty."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from admin.app import create_app
from radbill import freeradius
from radbill.config import Config, DatabaseUrl, Secret
from radbill.db.cluster import LocalCluster, free_port
from radbill.localenv import read_env_file
from radbill.radius.client import RadiusClient
from radbill.services import payments
from radbill.tenancy import Scope
from tests.support.admin import AdminClient
from tests.support.radius import free_udp_port

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"
# what must come back unchanged: per ledger account, its balance; and the customers' login data
FACTS = {
    "balances": "SELECT a.id, a.kind, sum(e.amount_minor) FROM ledger_accounts a JOIN ledger_entries e"
                " ON e.account_id = a.id GROUP BY a.id, a.kind ORDER BY a.id",
    "customers": "SELECT id, username, radius_password, status, expires_at FROM customers ORDER BY id",
    "accounts": "SELECT id, username, password_hash FROM accounts ORDER BY id",
    "payments": "SELECT id, customer_id, amount_minor FROM payments ORDER BY id",
}
UNBALANCED = ("SELECT txn_id, currency, sum(amount_minor) FROM ledger_entries GROUP BY txn_id, currency"
              " HAVING sum(amount_minor) <> 0")


def radbill(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radbill.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def site():
    """A seeded var/ (demo ISP), its backups (plain and encrypted), the facts read before, and the env."""
    base = Path(tempfile.mkdtemp(prefix="radbill-backup-"))
    base.chmod(0o755)  # the postgres OS user must traverse it
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADBILL_") and not k.endswith("DATABASE_URL")}
    env.update(RADBILL_VAR_DIR=str(base / "var"), RADBILL_PG_PORT=str(free_port()))
    demo = radbill(env, "demo", "--json")
    assert demo.returncode == 0, demo.stderr
    with running_cluster(base / "var") as owner_url:
        asyncio.run(pay_the_due_bill(owner_url))  # money moved through the ledger before the backup
    (base / "passphrase").write_text(PASSPHRASE + "\n")
    for args in ((), ("--passphrase-file", str(base / "passphrase"))):
        done = radbill(env, "backup", "--out", str(base / "backups"), *args)
        assert done.returncode == 0, done.stderr
    with running_cluster(base / "var") as owner_url:
        facts = read_facts(owner_url)
    assert len(facts["payments"]) == 1 and len(facts["balances"]) >= 4
    yield {"base": base, "env": env, "demo": json.loads(demo.stdout), "facts": facts,
           "plain": next((base / "backups").glob("*.tar")), "sealed": next((base / "backups").glob("*.tar.aes"))}
    shutil.rmtree(base, ignore_errors=True)


async def pay_the_due_bill(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        root = await conn.fetchrow("SELECT id, path::text FROM operators WHERE kind = 'group_admin'")
        bill = await conn.fetchrow("SELECT id, customer_id, total_minor FROM bills WHERE status = 'unpaid' ORDER BY id LIMIT 1")
        await payments.record_cash_payment(conn, Scope.system(root["id"], root["path"]), bill["customer_id"],
                                           bill["total_minor"], bill["id"])
    finally:
        await conn.close()


class running_cluster:
    """The var/'s embedded PostgreSQL for a block; yields the owner's URL from var/radbill.env."""

    def __init__(self, var: Path):
        self.values = read_env_file(var / "radbill.env")
        self.cluster = LocalCluster(var / "pg", int(self.values["RADBILL_PG_PORT"]))

    def __enter__(self) -> str:
        self.cluster.start()
        return self.values["MIGRATE_DATABASE_URL"]

    def __exit__(self, *exc) -> None:
        self.cluster.stop()


def read_facts(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return {name: conn.execute(query).fetchall() for name, query in FACTS.items()}


def test_a_backup_is_private(site):
    for path in (site["plain"], site["sealed"]):
        assert path.stat().st_mode & 0o777 == 0o600
    assert b"RADBILL_DATA_KEYS" in site["plain"].read_bytes()
    assert b"RADBILL_DATA_KEYS" not in site["sealed"].read_bytes()  # the secrets are inside the encryption


async def test_restore_onto_an_empty_var_brings_everything_back(site):
    base, env = site["base"], site["env"]
    old_env = (base / "var" / "radbill.env").read_text()
    shutil.rmtree(base / "var")  # the disk is lost
    done = radbill(env, "restore", str(site["sealed"]), "--passphrase-file", str(base / "passphrase"))
    assert done.returncode == 0, done.stderr
    assert (base / "var" / "radbill.env").read_text().splitlines()[1:] == old_env.splitlines()[1:]
    with running_cluster(base / "var") as owner_url:
        assert read_facts(owner_url) == site["facts"]
        with psycopg.connect(owner_url) as conn:
            assert conn.execute(UNBALANCED).fetchall() == []
        values = read_env_file(base / "var" / "radbill.env")
        check_radius(base, values, site["demo"])
        await check_admin_login(values, site["demo"])


def check_radius(base: Path, values: dict, demo: dict) -> None:
    """The restored database, through a real FreeRADIUS connected with the restored RADIUS credentials."""
    settings = freeradius.RadiusSettings(database_url=values["RADIUS_DATABASE_URL"], state_dir=base / "radius",
                                         auth_port=free_udp_port(), acct_port=free_udp_port(), reject_delay=0)
    service = freeradius.RadiusService(settings)
    service.start()
    try:
        secret = demo["nas"]["secret"]
        freeradius.wait_ready(settings, secret, service.process)
        client = RadiusClient("127.0.0.1", settings.auth_port, settings.acct_port, secret, timeout=2, retries=2)
        customers = {c["username"]: c for c in demo["customers"]}
        active = customers["demo-active"]
        assert client.send(client.access_request(active["username"], active["password"])).accepted
        assert not client.send(client.access_request(active["username"], active["password"] + "x")).accepted
        disabled = customers["demo-disabled"]
        assert not client.send(client.access_request(disabled["username"], disabled["password"])).accepted
    finally:
        service.stop()


async def check_admin_login(values: dict, demo: dict) -> None:
    config = Config(database_url=DatabaseUrl(values["DATABASE_URL"]),
                    migrate_database_url=DatabaseUrl(values["MIGRATE_DATABASE_URL"]),
                    secret_key=Secret(values["RADBILL_SECRET_KEY"]), cookie_secure=False)
    [admin] = [x for x in demo["logins"] if x["role"] == "group_admin"]
    client = TestClient(TestServer(create_app(config)))
    await client.start_server()
    try:
        browser = AdminClient(client)
        wrong = await browser.login(admin["username"], admin["password"] + "x")
        assert wrong.status != 303
        right = await browser.login(admin["username"], admin["password"])
        assert right.status == 303 and "/login" not in right.headers["Location"]
    finally:
        await client.close()


def test_a_wrong_passphrase_is_a_clear_error(site, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase")
    env = {**site["env"], "RADBILL_VAR_DIR": str(site["base"] / "other-var")}
    done = radbill(env, "restore", str(site["sealed"]), "--passphrase-file", str(wrong))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "passphrase is wrong" in done.stderr
    assert not (site["base"] / "other-var" / "pg").exists()  # nothing was started or created
    done = radbill(env, "restore", str(site["sealed"]))
    assert done.returncode == 2 and "encrypted" in done.stderr


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_damaged_archive_is_a_clear_error(site, damage):
    data = bytearray(site["plain"].read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF  # one bit pattern inside the dump
    broken = site["base"] / f"{damage}.tar"
    broken.write_bytes(bytes(data))
    env = {**site["env"], "RADBILL_VAR_DIR": str(site["base"] / f"var-{damage}")}
    done = radbill(env, "restore", str(broken))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "damaged" in done.stderr
    assert not (site["base"] / f"var-{damage}" / "pg").exists()


def test_a_target_that_is_not_empty_is_refused(site, fresh_db_url):
    done = radbill(site["env"], "restore", str(site["plain"]))  # var/ exists (restored or seeded)
    assert done.returncode == 2 and "is not empty" in done.stderr
    done = radbill(site["env"], "restore", str(site["plain"]), "--database-url", fresh_db_url)
    assert done.returncode == 2 and "target database is not empty" in done.stderr
    assert "Traceback" not in done.stderr


def test_restore_into_a_given_empty_database(site, pg_server, tmp_path):
    name = f"radbill_restore_{os.getpid()}"
    with pg_server.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" OWNER radbill')
    try:
        env = {**site["env"], "RADBILL_VAR_DIR": str(tmp_path / "var")}
        done = radbill(env, "restore", str(site["plain"]), "--database-url", pg_server.url(name))
        assert done.returncode == 0, done.stderr
        assert read_facts(pg_server.url(name)) == site["facts"]
        secrets = read_env_file(tmp_path / "var" / "radbill.env")
        assert secrets["RADBILL_DATA_KEYS"] and "DATABASE_URL" not in secrets  # the old database's address is not
    finally:
        pg_server.drop_database(name)
