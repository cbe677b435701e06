"""The Nagad direct-checkout adapter against the fake Nagad over real loopback HTTP: RSA-signed initialize and
complete, the browser's unsigned callback, verify by payment reference, and what is never PAID."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import subprocess
import sys
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radbill.db.cluster import free_port
from radbill.payments.fakes.nagad import FakeNagad, key_pair
from radbill.payments.gateway import FAILED, PAID, PENDING, UNKNOWN, LookupKey, Started
from radbill.payments.nagad import NagadAdapter, load_key, seal_for, sign, signature_ok, unseal
from radbill.payments.wire import GatewayError
from tests.payments.gateway_helpers import http, merchant, new_intent  # noqa: F401 -- fixtures


@pytest.fixture
async def fake():
    server = await FakeNagad().start()
    yield server
    await server.stop()


@pytest.fixture
def adapter(fake, http):  # noqa: F811
    row = fake.gateway_settings()
    return NagadAdapter(row["base_url"], row["credentials"], row["mode"], http, timeout=5)


async def pay(adapter, http, merchant, intent, action="pay"):  # noqa: F811
    """Start, open Nagad's page, press a button: (the intent as settlement stores it, the callback's params)."""
    started = await adapter.start(intent, merchant.urls())
    async with http.get(started.redirect_url) as resp:
        assert resp.status == 200 and "BDT 500.00" in await resp.text()
    async with http.post(started.redirect_url, data={"action": action}, allow_redirects=False) as resp:
        assert resp.status == 302
        callback = resp.headers["Location"]
    assert callback.startswith(merchant.urls().success + "?")
    stored = dataclasses.replace(intent, gateway_payment_id=started.gateway_payment_id)
    return stored, dict(parse_qsl(urlsplit(callback).query))


async def test_payment_verifies_paid_by_callback_and_by_query(adapter, fake, http, merchant):  # noqa: F811
    intent, params = await pay(adapter, http, merchant, new_intent())
    assert adapter.lookup_key(params) == LookupKey(reference=intent.reference,
                                                  gateway_payment_id=intent.gateway_payment_id)
    verdict = await adapter.verify(intent, params)
    assert (verdict.status, verdict.amount_minor, verdict.currency) == (PAID, 50000, "BDT")
    assert verdict.gateway_txn_id == params["issuer_payment_ref"] and verdict.reference == intent.reference
    again = await adapter.verify(intent, params)  # a repeated callback names the same transaction
    assert again.status == PAID and again.gateway_txn_id == verdict.gateway_txn_id
    assert (await adapter.query(intent)).status == PAID


async def test_the_fake_checked_our_signature_and_amount(adapter, fake, merchant):  # noqa: F811
    started = await adapter.start(new_intent(amount_minor=12345), merchant.urls())
    attempt = fake.attempts[started.gateway_payment_id]
    assert (attempt.amount, attempt.status, fake.rejected) == ("123.45", "Ready", [])


async def test_cancel_is_failed(adapter, fake, http, merchant):  # noqa: F811
    intent, params = await pay(adapter, http, merchant, new_intent(), "cancel")
    assert (await adapter.verify(intent, params)).status == FAILED


async def test_callback_never_sent_the_query_finds_the_payment(adapter, fake, merchant):  # noqa: F811
    intent = new_intent()
    started: Started = await adapter.start(intent, merchant.urls())
    stored = dataclasses.replace(intent, gateway_payment_id=started.gateway_payment_id)
    assert (await adapter.query(stored)).status == PENDING
    fake.finish(started.gateway_payment_id, "pay")  # the customer paid; the browser never came back
    assert (await adapter.query(stored)).status == PAID
    assert (await adapter.query(intent)).status == UNKNOWN  # no reference stored: nothing to ask


async def test_forged_success_callback_is_not_believed(adapter, fake, merchant):  # noqa: F811
    intent = new_intent()
    started = await adapter.start(intent, merchant.urls())
    stored = dataclasses.replace(intent, gateway_payment_id=started.gateway_payment_id)
    forged = {"order_id": intent.reference, "payment_ref_id": started.gateway_payment_id, "status": "Success",
              "status_code": "00_0000_000", "issuer_payment_ref": "7000000001NGD"}
    assert (await adapter.verify(stored, forged)).status == PENDING


async def test_another_attempts_paid_reference_does_not_pay_this_one(adapter, fake, http, merchant):  # noqa: F811
    other, other_params = await pay(adapter, http, merchant, new_intent())
    mine = new_intent()
    started = await adapter.start(mine, merchant.urls())
    stored = dataclasses.replace(mine, gateway_payment_id=started.gateway_payment_id)
    assert (await adapter.verify(stored, other_params)).status == PENDING  # our stored reference wins
    unstored = await adapter.verify(mine, other_params)  # nothing stored: the URL's reference, checked by orderId
    assert unstored.status == UNKNOWN and "not this attempt" in unstored.reason


async def test_amount_mismatch_is_never_paid(adapter, fake, http, merchant):  # noqa: F811
    fake.switches.amount_mismatch = True
    intent, params = await pay(adapter, http, merchant, new_intent())
    verdict = await adapter.verify(intent, params)
    assert verdict.status == FAILED and "amount mismatch" in verdict.reason and verdict.amount_minor == 49900


async def test_timeout_is_unknown(fake, http, merchant):  # noqa: F811
    quick = NagadAdapter(fake.api_url, fake.credentials(), "sandbox", http, timeout=0.3)
    intent, params = await pay(quick, http, merchant, new_intent())
    fake.switches.timeout = True
    verdict = await quick.verify(intent, params)
    assert verdict.status == UNKNOWN and "in time" in verdict.reason


async def test_a_wrong_merchant_key_is_refused_by_nagad(fake, http, merchant):  # noqa: F811
    impostor = {**fake.credentials(), "merchant_private_key": key_pair("impostor").export_key().decode()}
    adapter = NagadAdapter(fake.api_url, impostor, "sandbox", http)
    with pytest.raises(GatewayError, match="signature"):
        await adapter.start(new_intent(), merchant.urls())
    assert fake.rejected == ["InvalidSignature"] and fake.attempts == {}


async def test_an_answer_not_signed_by_nagad_is_refused(adapter, fake, merchant):  # noqa: F811
    fake.switches.wrong_key = True
    with pytest.raises(GatewayError, match="not signed by Nagad"):
        await adapter.start(new_intent(), merchant.urls())


async def test_refusals_and_limits_raise_a_sentence(adapter, fake, merchant):  # noqa: F811
    with pytest.raises(GatewayError, match="BDT only"):
        await adapter.start(new_intent(currency="USD"), merchant.urls())
    fake.switches.refuse = True
    with pytest.raises(GatewayError, match="refused the payment: Merchant is not active"):
        await adapter.start(new_intent(), merchant.urls())
    refund = await adapter.refund(new_intent(), "7000000001NGD", 100, "test")
    assert not refund.ok and "merchant portal" in refund.reason


def test_bad_credentials_are_named(http):  # noqa: F811
    with pytest.raises(GatewayError, match="nagad_public_key"):
        NagadAdapter("http://127.0.0.1:1", {"merchant_id": "1", "merchant_private_key": "x"}, "sandbox", http)
    with pytest.raises(GatewayError, match="not an RSA key"):
        NagadAdapter("http://127.0.0.1:1", {"merchant_id": "1", "merchant_private_key": "bm90IGEga2V5",
                                             "nagad_public_key": "bm90IGEga2V5"}, "sandbox", http)
    public_only = key_pair("merchant").public_key().export_key().decode()
    with pytest.raises(GatewayError, match="public key"):
        NagadAdapter("http://127.0.0.1:1", {"merchant_id": "1", "merchant_private_key": public_only,
                                             "nagad_public_key": public_only}, "sandbox", http)


def test_an_adapter_per_request_loads_its_keys_once(fake, http):  # noqa: F811
    NagadAdapter(fake.api_url, fake.credentials(), "sandbox", http)
    before = load_key.cache_info()
    NagadAdapter(fake.api_url, fake.credentials(), "sandbox", http)
    after = load_key.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (2, 0)


def test_the_rsa_envelope_round_trips_and_keys_load_from_bare_base64():
    merchant_key, nagad_key = key_pair("merchant"), key_pair("nagad")
    bare = "".join(nagad_key.public_key().export_key().decode().splitlines()[1:-1])  # as Nagad hands it out
    assert load_key(bare) == nagad_key.public_key()
    sealed = seal_for(load_key(bare), '{"a":"1"}')
    assert unseal(nagad_key, sealed) == '{"a":"1"}' and unseal(merchant_key, sealed) is None
    signature = sign(merchant_key, "text")
    assert signature_ok(merchant_key.public_key(), "text", signature)
    assert not signature_ok(merchant_key.public_key(), "texT", signature)
    assert not signature_ok(nagad_key.public_key(), "text", signature) and not signature_ok(nagad_key, "t", "%%")


async def test_the_fake_runs_as_a_program(http, merchant):  # noqa: F811
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 -- a child process for the whole test, not a blocking call
        [sys.executable, "-m", "radbill.payments.fakes.nagad", "--port", str(port)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        first = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        credentials = json.loads(await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 10))
        assert f"http://127.0.0.1:{port}" in first
        adapter = NagadAdapter(first.split()[3], credentials, "sandbox", http)
        started = await adapter.start(new_intent(), merchant.urls())
        assert started.redirect_url.startswith(f"http://127.0.0.1:{port}/")
    finally:
        proc.terminate()
        proc.wait(10)


@functools.cache
def offline_adapter() -> NagadAdapter:
    """An adapter for judging records only (loading RSA keys costs ~0.1 s: once, not per example)."""
    return NagadAdapter("http://127.0.0.1:1", FakeNagad().credentials(), "sandbox", None)


@settings(max_examples=200)
@given(status=st.sampled_from(["Success", "success", "OrderInitiated", "Ready", "InProgress", "Cancelled", "Aborted",
                               "Failed", "Fraud", ""]),
       mine=st.booleans(), merchant_ok=st.booleans(),
       amount=st.sampled_from(["500.00", "500", "500.01", "499.99", "500.001", "x", "", None]),
       issuer=st.sampled_from(["7000000001NGD", "", None]), currency=st.sampled_from(["BDT", "USD"]))
def test_paid_only_when_every_rule_holds(status, mine, merchant_ok, amount, issuer, currency):
    adapter = offline_adapter()
    intent = new_intent(reference="RB0123456789", currency=currency)
    record = {"status": status, "orderId": intent.reference if mine else "RB9999999999", "amount": amount,
              "merchantId": adapter.merchant_id if merchant_ok else "999", "issuerPaymentRefNo": issuer}
    verdict = adapter._judge(intent, record)  # noqa: SLF001 -- the one place the rules live
    every_rule = (status == "Success" and mine and merchant_ok and amount in ("500.00", "500") and issuer
                  and currency == "BDT")
    assert (verdict.status == PAID) == bool(every_rule)
