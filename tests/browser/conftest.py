"""A real admin process and Debian's Chromium driven by Playwright (never `playwright install`)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import pytest

from radbill.db.cluster import free_port
from tests.support.admin import build_tree
from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT
from tests.support.db import app_url


@pytest.fixture
def admin_server(fresh_db_url):
    async def seed():
        conn = await asyncpg.connect(fresh_db_url)
        try:
            return await build_tree(conn)
        finally:
            await conn.close()

    tree = asyncio.run(seed())
    port = free_port()
    env = {**os.environ, "DATABASE_URL": app_url(fresh_db_url), "MIGRATE_DATABASE_URL": fresh_db_url, "RADBILL_SECRET_KEY": "b" * 64,
           "RADBILL_ADMIN_PORT": str(port), "RADBILL_COOKIE_SECURE": "false"}
    # the admin's log goes to a file: a pipe nobody reads fills after 64 KB and then blocks the admin mid-request
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([sys.executable, "-m", "admin"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(log.read().decode())
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", tree
    process.terminate()
    process.wait(10)
    log.close()


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
