"""The bKash adapter against the local fake bKash over real HTTP: every switch of the fake, tokens and refunds."""

from dataclasses import replace

import aiohttp
import pytest

from radbill.payments.bkash import BkashAdapter, BkashError, amount_minor_of, amount_text
from radbill.payments.gateway import FAILED, PAID, PENDING, UNKNOWN, IntentView, ReturnUrls
from tests.payments.bkash_steps import press

URLS = ReturnUrls(success="http://127.0.0.1:1/pay/return/1", fail="http://127.0.0.1:1/pay/return/1",
                  cancel="http://127.0.0.1:1/pay/return/1")


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def adapter(fake, http, timeout=5.0) -> BkashAdapter:
    return BkashAdapter(fake.base_url, fake.credentials, "sandbox", http, timeout=timeout)


async def started(fake, http, amount_minor=50000, reference="ref-0123456789abcdef"):
    a = adapter(fake, http)
    intent = IntentView(1, reference, amount_minor, "BDT", "ra***an")
    s = await a.start(intent, URLS)
    return a, replace(intent, gateway_payment_id=s.gateway_payment_id), s


def test_amounts_are_two_place_decimals():
    assert amount_text(50000) == "500.00" and amount_text(5) == "0.05"
    assert amount_minor_of("500.00") == 50000 and amount_minor_of("15") == 1500
    assert amount_minor_of("1.005") is None and amount_minor_of("abc") is None


async def test_success_creates_executes_and_reports_the_capture(fake_bkash, http):
    a, intent, s = await started(fake_bkash, http)
    assert s.redirect_url.startswith(fake_bkash.base_url) and s.gateway_payment_id
    created = fake_bkash.payments[s.gateway_payment_id]
    assert (created.amount, created.currency, created.invoice) == ("500.00", "BDT", intent.reference)
    params = await press(http, s.redirect_url)
    assert params["status"] == "success" and params["paymentID"] == s.gateway_payment_id
    v = await a.verify(intent, params)
    assert (v.status, v.amount_minor, v.currency, v.reference) == (PAID, 50000, "BDT", intent.reference)
    assert v.gateway_txn_id and fake_bkash.calls.count("grant") == 1  # one token for every call
    again = await a.verify(intent, params)  # a duplicate callback: execute refuses, the status query confirms
    assert (again.status, again.gateway_txn_id) == (PAID, v.gateway_txn_id)


@pytest.mark.parametrize(("mode", "button", "status"), [
    ("success", "cancel", FAILED), ("cancel", "pay", FAILED), ("failure", "pay", FAILED), ("forged", "pay", PENDING)])
async def test_nothing_paid_is_never_reported_paid(fake_bkash, http, mode, button, status):
    a, intent, s = await started(fake_bkash, http)
    params = await press(http, s.redirect_url, button, mode)
    v = await a.verify(intent, params)
    assert v.status == status and v.gateway_txn_id is None


async def test_a_callback_for_another_payment_is_not_verified(fake_bkash, http):
    a, intent, s = await started(fake_bkash, http)
    v = await a.verify(intent, {"paymentID": "TR0011FORGED", "status": "success"})
    assert v.status == FAILED and "TR0011FORGED" not in fake_bkash.payments


async def test_amount_mismatch_is_reported_as_bkash_says_it(fake_bkash, http):
    a, intent, s = await started(fake_bkash, http)
    v = await a.verify(intent, await press(http, s.redirect_url, mode="amount_mismatch"))
    assert (v.status, v.amount_minor) == (PAID, 49900)  # settlement compares and refuses it


async def test_a_stalled_gateway_is_unknown_not_failed(fake_bkash, http):
    a, intent, s = await started(fake_bkash, http)
    params = await press(http, s.redirect_url, mode="timeout")
    v = await adapter(fake_bkash, http, timeout=0.3).verify(intent, params)
    assert v.status == UNKNOWN and "did not answer" in v.reason


async def test_query_finds_a_payment_whose_callback_never_came(fake_bkash, http):
    a, intent, s = await started(fake_bkash, http)
    assert (await a.query(intent)).status == PENDING  # not paid yet: execute is refused harmlessly
    assert await press(http, s.redirect_url, mode="never") == {}
    v = await a.query(intent)
    assert (v.status, v.amount_minor) == (PAID, 50000)


async def test_a_revoked_token_is_granted_again(fake_bkash, http):
    a, intent, s = await started(fake_bkash, http)
    fake_bkash.tokens.clear()
    assert (await a.query(intent)).status == PENDING
    assert fake_bkash.calls.count("grant") == 2


async def test_wrong_credentials_are_a_clear_error(fake_bkash, http):
    a = BkashAdapter(fake_bkash.base_url, {**fake_bkash.credentials, "app_secret": "wrong"}, "sandbox", http)
    with pytest.raises(BkashError, match="credentials"):
        await a.start(IntentView(1, "ref-wrong-credentials", 100, "BDT", "x***"), URLS)


async def test_refund_full_partial_and_too_much(fake_bkash, http):
    a, intent, s = await started(fake_bkash, http)
    v = await a.verify(intent, await press(http, s.redirect_url))
    part = await a.refund(intent, v.gateway_txn_id, 20000, "customer asked")
    assert part.ok and part.gateway_refund_id and part.amount_minor == 20000
    too_much = await a.refund(intent, v.gateway_txn_id, 40000, "again")
    assert not too_much.ok and "exceeds" in too_much.reason
    assert (await a.refund(intent, v.gateway_txn_id, 30000, "rest")).ok
