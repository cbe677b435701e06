"""`radbill run` (what `make run` calls): embedded Postgres under var/, migrated, Ctrl-C stops it cleanly."""

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

ROOT = Path(__file__).resolve().parent.parent


def start(var_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADBILL_") and k != "DATABASE_URL"}
    env.update(RADBILL_VAR_DIR=str(var_dir), RADBILL_PG_PORT=str(port))
    return subprocess.Popen([sys.executable, "-m", "radbill.cli", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(process: subprocess.Popen, needle: str, timeout: float = 60) -> str:
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


@pytest.fixture
def var_dir():
    base = Path(tempfile.mkdtemp(prefix="radbill-run-"))  # pytest's tmp_path is private to root
    base.chmod(0o755)
    yield base / "var"
    shutil.rmtree(base, ignore_errors=True)


def test_run_starts_embedded_postgres_and_stops_cleanly(var_dir):
    port = free_port()
    process = start(var_dir, port)
    try:
        wait_for(process, "radbill is running")
        settings = read_env_file(var_dir / "radbill.env")
        assert oct((var_dir / "radbill.env").stat().st_mode & 0o777) == "0o600"
        with psycopg.connect(settings["DATABASE_URL"]) as conn:
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert versions and versions[0].startswith("0001_")
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert not (var_dir / "pg" / "postmaster.pid").exists(), "postgres was left running"

    # second run: same cluster and credentials, nothing re-initialised
    process = start(var_dir, port)
    try:
        output = wait_for(process, "radbill is running")
        assert "migrations: up to date" in output
        assert read_env_file(var_dir / "radbill.env") == settings
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
