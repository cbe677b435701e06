"""Webhook tests: a database of their own, the admin tests' ISP tree (tests/fixtures/admin.py), a local receiver;
registering an endpoint and running the outbox until the webhook rows are settled are in tests/support/webhooks.py."""

from __future__ import annotations

import pytest

from radbill.db.pool import SYSTEM, create_pool
from tests.support.db import app_url
from tests.webhook_receiver import WebhookReceiver


@pytest.fixture
async def receiver():
    server = await WebhookReceiver().start()
    yield server
    await server.stop()


@pytest.fixture
async def pool(fresh_db_url):
    # as the scheduler connects: the app role, row-level security on, the system's whole-tree scope
    p = await create_pool(app_url(fresh_db_url), min_size=1, max_size=12, default_scope=SYSTEM)
    yield p
    await p.close()
