"""SMS tests: a local HTTP SMS provider, a database of their own per test, an ISP with a gateway pointing at
the provider, enabled templates and an SMS balance."""

from __future__ import annotations

from types import SimpleNamespace

import asyncpg
import pytest

from radbill.services import sms, sms_config
from tests import factories as f
from tests.sms_provider import SmsProvider, gateway_form
from tests.support.scopes import scope_of


@pytest.fixture
async def provider():
    server = await SmsProvider().start()
    yield server
    await server.stop()
    await sms.close_http()


@pytest.fixture
async def pool(fresh_db_url):
    p = await asyncpg.create_pool(fresh_db_url, min_size=1, max_size=24)
    yield p
    await p.close()


@pytest.fixture
async def conn(pool):
    async with pool.acquire() as c:
        yield c


@pytest.fixture
async def isp(conn, provider):
    """root -> operator (gateway at the provider, templates on, balance BDT 100) -> sub-operator (balance 10)."""
    base = await f.isp(conn)
    op, sub = base.operator, base.sub
    await conn.execute("UPDATE operators SET business_name = 'Dhaka Net' WHERE id = $1", op["id"])
    gateway, token = await sms_config.save_gateway(conn, scope_of(op), gateway_form(provider))
    for event in ("payment_received", "bill_generated", "due_reminder", "expiry_reminder", "account_suspended",
                  "account_activated"):
        await sms_config.save_template(conn, scope_of(op), event,
                                       "Dear {customer_name}, " + event.replace("_", " ") + " {amount} {due_date} "
                                       "{expiry}. {isp_name}", True)
    await conn.execute("UPDATE operators SET sms_balance = 10000 WHERE id = $1", op["id"])
    await conn.execute("UPDATE operators SET sms_balance = 1000 WHERE id = $1", sub["id"])
    customer = await f.customer(conn, sub["id"], base.package["id"], base.profile["id"], mobile="+8801712345678",
                                name="Rahim Uddin")
    return SimpleNamespace(root=base.root, op=op, sub=sub, package=base.package, profile=base.profile,
                           gateway=gateway, token=token, customer=customer, provider=provider)
