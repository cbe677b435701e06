"""SMS gateway secrets at rest: sealed in the database, opened only to send, re-sealed by rotation; plain values
left from before are sealed by `radbill migrate`/`run`; a missing key fails with a sentence, never silently."""

from __future__ import annotations

import pytest

from radbill import secretbox
from radbill.errors import ConfigError
from radbill.services import sealed, sms_config
from radbill.services.payments import record_cash_payment
from tests.sms_provider import gateway_form
from tests.support.scopes import scope_of
from tests.support.sms import settle


async def stored_secret(conn, gateway_id: int) -> str:
    return await conn.fetchval("SELECT secret FROM sms_gateways WHERE id = $1", gateway_id)


async def test_the_stored_secret_is_sealed_and_sending_still_works(isp, conn, pool):
    stored = await stored_secret(conn, isp.gateway["id"])
    assert isp.provider.api_key not in stored and secretbox.is_sealed(stored)
    assert sealed.open_for(sealed.SMS_SECRET, isp.gateway["id"], stored) == isp.provider.api_key
    # an edit with the secret left empty keeps it; a new one is sealed too
    await sms_config.save_gateway(conn, scope_of(isp.op), gateway_form(isp.provider, secret="", active="on"),
                                  isp.gateway["id"])
    assert await stored_secret(conn, isp.gateway["id"]) == stored
    await record_cash_payment(conn, scope_of(isp.sub), isp.customer["id"], 50000)
    await settle(pool)
    assert len(isp.provider.accepted()) == 1  # the provider checked the bearer key: the opened secret was right


async def test_plain_values_from_before_are_sealed_on_migrate_and_still_send(isp, conn, pool):
    await conn.execute("UPDATE sms_gateways SET secret = $2 WHERE id = $1", isp.gateway["id"], isp.provider.api_key)
    assert await sealed.seal_plain_values(conn) == 1
    assert secretbox.is_sealed(await stored_secret(conn, isp.gateway["id"]))
    assert await sealed.seal_plain_values(conn) == 0  # nothing left: safe on every start
    await record_cash_payment(conn, scope_of(isp.sub), isp.customer["id"], 50000)
    await settle(pool)
    assert len(isp.provider.accepted()) == 1


async def test_rotation_reseals_everything_under_the_new_key(isp, conn, pool, monkeypatch):
    old = secretbox._keys()[0]
    old_entry = f"{old[0]}:{old[1].hex()}"
    new_entry = secretbox.new_key_entry("rotated")
    await conn.execute("INSERT INTO payment_gateways (operator_id, kind, label, base_url) VALUES ($1, 'bkash', 'b',"
                       " 'http://127.0.0.1:9/')", isp.op["id"])
    pgw = await conn.fetchval("SELECT id FROM payment_gateways")
    await conn.execute("UPDATE payment_gateways SET credentials_sealed = $2 WHERE id = $1", pgw,
                       sealed.seal_for(sealed.PAYMENT_CREDENTIALS, pgw, '{"app_key": "k"}'))
    monkeypatch.setenv("RADBILL_DATA_KEYS", f"{new_entry},{old_entry}")  # step 1: the new key in front
    assert await sealed.rotate(conn) == 2
    assert await sealed.rotate(conn) == 0  # already current
    monkeypatch.setenv("RADBILL_DATA_KEYS", new_entry)  # step 3: the old key removed
    stored = await stored_secret(conn, isp.gateway["id"])
    assert stored.startswith("sb1:rotated:")
    assert sealed.open_for(sealed.SMS_SECRET, isp.gateway["id"], stored) == isp.provider.api_key
    creds = await conn.fetchval("SELECT credentials_sealed FROM payment_gateways WHERE id = $1", pgw)
    assert sealed.open_for(sealed.PAYMENT_CREDENTIALS, pgw, creds) == '{"app_key": "k"}'
    await record_cash_payment(conn, scope_of(isp.sub), isp.customer["id"], 50000)
    await settle(pool)
    assert len(isp.provider.accepted()) == 1


async def test_a_wrong_key_fails_clearly(isp, conn, pool, monkeypatch):
    monkeypatch.setenv("RADBILL_DATA_KEYS", secretbox.new_key_entry("other"))
    with pytest.raises(ConfigError) as exc:
        await sealed.rotate(conn)
    assert "no longer configured" in str(exc.value) and "nothing was changed" in str(exc.value)
    # sending fails with a sentence that says what to do, and is not retried forever
    await record_cash_payment(conn, scope_of(isp.sub), isp.customer["id"], 50000)
    await settle(pool)
    assert isp.provider.received == []
    error = await conn.fetchval("SELECT error FROM sms_messages")
    assert "cannot open the gateway's stored secret" in error and "RADBILL_DATA_KEYS" in error
    monkeypatch.delenv("RADBILL_DATA_KEYS")
    with pytest.raises(ConfigError) as missing:
        await sms_config.save_gateway(conn, scope_of(isp.op), gateway_form(isp.provider, name="Second"))
    assert "RADBILL_DATA_KEYS" in str(missing.value)
