"""WhatsApp tests: the admin tree (op_a with reseller A1, op_b), each operator with its own number at a local
Cloud API, an SMS gateway at the local SMS provider for the fallback, and the admin app on loopback for the
status webhooks."""

from __future__ import annotations

from types import SimpleNamespace

import asyncpg
import pytest

from radbill import secretbox
from radbill.services import sms, sms_config, whatsapp, whatsapp_config  # noqa: F401 -- registers 'whatsapp'
from tests.sms_provider import SmsProvider, gateway_form
from tests.support.scopes import scope_of
from tests.support.whatsapp import MOBILES, NUMBERS, settings_form
from tests.whatsapp_cloud import CloudApi


@pytest.fixture
async def wa(tree, fresh_db_url, monkeypatch):
    monkeypatch.setenv(secretbox.ENV, secretbox.new_key_entry("t"))
    monkeypatch.setattr(whatsapp, "SEND_TIMEOUT_SECONDS", 1.0)
    cloud = await CloudApi(numbers={p: (t, s) for p, t, s in NUMBERS.values()}, hold_seconds=2.0).start()
    provider = await SmsProvider().start()
    pool = await asyncpg.create_pool(fresh_db_url, min_size=1, max_size=12)
    async with pool.acquire() as conn:
        for name, mobile in MOBILES.items():
            await conn.execute("UPDATE customers SET mobile = $2 WHERE id = $1", tree.customers[name]["id"], mobile)
        await conn.execute("UPDATE operators SET sms_balance = 10000, business_name = name")
        await sms_config.save_gateway(conn, scope_of(tree.ops["root"]), gateway_form(provider))
        for op in NUMBERS:
            await whatsapp_config.save_settings(conn, scope_of(tree.ops[op]), settings_form(cloud, op))
    yield SimpleNamespace(tree=tree, cloud=cloud, provider=provider, pool=pool)
    await pool.close()
    await provider.stop()
    await cloud.stop()
    await sms.close_http()
