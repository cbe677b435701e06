"""Demo mode: the demo ISP sends WhatsApp through the local fake Cloud API `radbill run` starts, switches an event to
WhatsApp on its settings form, and sees the message delivered (the fake reports it, signed, to the admin)."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
from aiohttp.test_utils import TestServer

from admin.app import create_app
from radbill import runner, secretbox
from radbill.fakes.whatsapp_cloud import CloudApi
from radbill.services import sms, sms_events, whatsapp_config
from radbill.services.demo import seed_demo
from radbill.tenancy import Scope
from tests.support.sms import settle


async def test_the_demo_isp_switches_an_event_to_whatsapp_and_sees_it_delivered(fresh_db_url, admin_config,  # noqa: F811
                                                                                 monkeypatch):
    monkeypatch.setenv(secretbox.ENV, secretbox.new_key_entry("t"))
    cloud = await CloudApi(delivery_delay=0.1).start()
    server = TestServer(create_app(admin_config))
    await server.start_server()
    pool = await asyncpg.create_pool(fresh_db_url, min_size=1, max_size=8)
    try:
        config = dataclasses.replace(admin_config, fake_whatsapp_port=int(cloud.url.rsplit(":", 1)[1]),
                                     admin_port=server.port)
        async with pool.acquire() as conn:
            demo = await seed_demo(conn, whatsapp_url=config.fake_whatsapp_url)
            # what `radbill run` starts the fake with: the demo sender's opened secrets and the admin's webhook
            [fake] = await runner._local_fake_whatsapp(conn, config)  # noqa: SLF001
            isp = await conn.fetchrow("SELECT id, path::text AS path FROM operators WHERE name = 'Demo ISP'")
            customer = await conn.fetchrow("SELECT id, operator_id FROM customers WHERE username = 'demo-active'")
        assert demo["whatsapp"]["url"] == config.fake_whatsapp_url
        assert fake["status_url"] == f"http://127.0.0.1:{server.port}/whatsapp/webhook"
        cloud.numbers, cloud.status_url = fake["numbers"], fake["status_url"]

        # the ISP's form as the WhatsApp page shows it (every event on SMS), one event switched, saved
        scope = Scope(account_id=None, operator_id=isp["id"], path=isp["path"], role="operator")
        async with pool.acquire() as conn:
            shown = (await whatsapp_config.settings_for(conn, scope))["form"]
            assert shown["channel_account_activated"] == "sms" and shown["template_account_activated"]
            await whatsapp_config.save_settings(conn, scope, {**shown, "channel_account_activated": "whatsapp"})
            await sms_events.queue_event(conn, customer["operator_id"], customer["id"], "account_activated")
        await settle(pool)
        [sent] = cloud.accepted()
        assert (sent.to, sent.template) == ("8801700000000", "radbill_account_activated")
        for _ in range(100):  # the fake reports the delivery a moment later, to the admin's webhook
            async with pool.acquire() as conn:
                message = await conn.fetchrow("SELECT * FROM sms_messages WHERE wamid = $1", sent.wamid)
            if message["status"] == "delivered":
                break
            await asyncio.sleep(0.05)
        assert (message["channel"], message["status"]) == ("whatsapp", "delivered")
    finally:
        await pool.close()
        await server.close()
        await cloud.stop()
        await sms.close_http()
