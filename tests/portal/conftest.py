"""A real portal on a loopback port over a committed database (app role), with the fake bKash beside it."""

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from portal.app import create_app
from radbill import clock, secretbox
from radbill.config import Config, DatabaseUrl, Secret
from radbill.db.cluster import free_port
from radbill.db.pool import SYSTEM, create_pool
from radbill.payments.fakes.bkash import start_fake
from radbill.payments.links import create_pay_link
from tests.payments.helpers import world
from tests.support.db import app_url
from tests.support.portal import Portal


@pytest.fixture(autouse=True)
def data_keys(monkeypatch):
    monkeypatch.setenv(secretbox.ENV, secretbox.new_key_entry("t"))


@pytest.fixture
async def portal(fresh_db_url, tmp_path):
    fake, fake_runner = await start_fake(stall=1.0, late=0.3)
    owner = await asyncpg.connect(fresh_db_url)
    pool = await create_pool(app_url(fresh_db_url), max_size=20, default_scope=SYSTEM)
    port = free_port()
    config = Config(database_url=DatabaseUrl(app_url(fresh_db_url)), secret_key=Secret("k" * 40),
                    portal_port=port, portal_url=f"http://127.0.0.1:{port}", cookie_secure=False,
                    var_dir=tmp_path)  # ticket photos land in tmp_path/uploads
    runner = web.AppRunner(create_app(config, pool), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    w = await world(owner, fake.base_url, fake.credentials, now=clock.now())
    token = await create_pay_link(owner, w.customer["id"], w.bill["id"])
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # keep cookies of 127.0.0.1
    yield Portal(f"http://127.0.0.1:{port}", owner, pool, http, fake, w, token)
    await http.close()
    await runner.cleanup()
    await pool.close()
    await owner.close()
    await fake_runner.cleanup()
