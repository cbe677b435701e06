"""The SSLCommerz adapter against the fake SSLCommerz over real loopback HTTP: every switch, and the verify rules
(a callback is never believed; only a validated, matching record is PAID)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from radbill.db.cluster import free_port
from radbill.payments.fakes import serve
from radbill.payments.fakes.sslcommerz import DEMO_STORE_ID, DEMO_STORE_PASSWD, FakeSSLCommerz
from radbill.payments.gateway import FAILED, PAID, PENDING, UNKNOWN, LookupKey, ReturnUrls
from radbill.payments.sslcommerz import VALIDATION_PATH, SSLCommerzAdapter, sign_fields, signed_fields
from radbill.payments.wire import GatewayError, minor_to_text, text_to_minor
from tests.payments.gateway_helpers import http, merchant, new_intent, parse_form  # noqa: F401 -- fixtures


@pytest.fixture
async def fake(merchant):  # noqa: F811 -- stopped before the merchant, so IPNs in flight land first
    server = await FakeSSLCommerz().start()
    yield server
    await server.stop()


@pytest.fixture
def adapter(fake, http):  # noqa: F811
    row = fake.gateway_settings()
    return SSLCommerzAdapter(row["base_url"], row["credentials"], row["mode"], http, timeout=5)


async def pay(adapter, http, merchant, intent, action="pay"):  # noqa: F811
    """Start, open the gateway page, press a button: (where the browser is sent, the fields it POSTs there)."""
    started = await adapter.start(intent, merchant.urls())
    async with http.get(started.redirect_url) as resp:
        page = await resp.text()
    assert resp.status == 200 and minor_to_text(intent.amount_minor, intent.currency) in page
    action_url, fields = parse_form(page)
    async with http.post(adapter.base_url + action_url, data={**fields, "action": action}) as resp:
        return parse_form(await resp.text())


async def test_start_sends_the_exact_amount_and_our_reference(adapter, fake, merchant):  # noqa: F811
    intent = new_intent(amount_minor=50050)
    started = await adapter.start(intent, merchant.urls())
    txn = fake.txns[started.gateway_payment_id]
    assert (txn.amount, txn.currency, txn.tran_id) == ("500.50", "BDT", intent.reference)
    assert txn.ipn_url == merchant.urls().notify and started.redirect_url.startswith(fake.url)


async def test_payment_redirect_and_ipn_both_verify_paid(adapter, fake, http, merchant):  # noqa: F811
    intent = new_intent()
    url, posted = await pay(adapter, http, merchant, intent)
    assert url == merchant.urls().success
    assert adapter.lookup_key(posted) == LookupKey(reference=intent.reference)
    by_redirect = await adapter.verify(intent, posted)
    assert (by_redirect.status, by_redirect.amount_minor, by_redirect.currency) == (PAID, 50000, "BDT")
    await fake.ipns_settled()
    [ipn] = merchant.ipns()
    by_ipn = await adapter.verify(intent, ipn)  # the second validation answers VALIDATED: still PAID
    assert by_ipn.status == PAID and by_ipn.raw["status"] == "VALIDATED"
    assert by_ipn.gateway_txn_id == by_redirect.gateway_txn_id == posted["bank_tran_id"]
    assert (await adapter.query(intent)).status == PAID


async def test_a_finished_session_cannot_be_paid_again(adapter, fake, http, merchant):  # noqa: F811
    intent = new_intent()
    started = await adapter.start(intent, merchant.urls())
    await fake.complete(started.gateway_payment_id, "cancel")
    async with http.post(f"{fake.url}/gwprocess/v4/gw.php",
                         data={"SESSIONKEY": started.gateway_payment_id, "action": "pay"}) as resp:
        assert resp.status == 404
    assert (await adapter.query(intent)).status == FAILED


@pytest.mark.parametrize("action, where", [("cancel", "cancel"), ("fail", "fail")])
async def test_cancel_and_failure_are_failed(adapter, fake, http, merchant, action, where):  # noqa: F811
    intent = new_intent()
    url, posted = await pay(adapter, http, merchant, intent, action)
    assert url == getattr(merchant.urls(), where)
    assert (await adapter.verify(intent, posted)).status == FAILED
    await fake.ipns_settled()
    assert (await adapter.verify(intent, merchant.ipns()[0])).status == FAILED


async def test_duplicate_ipn_names_one_transaction(adapter, fake, http, merchant):  # noqa: F811
    fake.switches.duplicate_ipn = True
    intent = new_intent()
    await pay(adapter, http, merchant, intent)
    await fake.ipns_settled()
    verdicts = [await adapter.verify(intent, ipn) for ipn in merchant.ipns()]
    assert len(verdicts) == 2 and {v.status for v in verdicts} == {PAID}
    assert len({v.gateway_txn_id for v in verdicts}) == 1  # settlement's unique key makes it one payment


async def test_late_ipn_arrives_after_the_redirect(adapter, fake, http, merchant):  # noqa: F811
    fake.switches.late_ipn, fake.switches.late_seconds = True, 0.3
    intent = new_intent()
    await pay(adapter, http, merchant, intent)
    assert merchant.ipns() == []
    await fake.ipns_settled()
    assert (await adapter.verify(intent, merchant.ipns()[0])).status == PAID


async def test_ipn_never_sent_the_query_finds_the_payment(adapter, fake, http, merchant):  # noqa: F811
    fake.switches.no_ipn = True
    intent = new_intent()
    await adapter.start(intent, merchant.urls())
    assert (await adapter.query(intent)).status == PENDING  # started, not paid: ask again later
    [started] = fake.txns
    await fake.complete(started, "pay")
    await fake.ipns_settled()
    assert merchant.ipns() == []
    found = await adapter.query(intent)
    assert (found.status, found.amount_minor) == (PAID, 50000)


async def test_forged_sign_concludes_nothing_and_costs_no_gateway_call(adapter, fake, http, merchant):  # noqa: F811
    fake.switches.forged_sign = True
    intent = new_intent()
    _, posted = await pay(adapter, http, merchant, intent)
    verdict = await adapter.verify(intent, posted)
    assert verdict.status == UNKNOWN and "verify_sign" in verdict.reason
    assert fake.calls == []


@pytest.mark.parametrize("field, value", [("amount", "5.00"), ("currency_amount", "5.00"), ("tran_id", "OTHER"),
                                          ("status", "VALID")])
async def test_an_altered_signed_field_breaks_the_signature(adapter, fake, http, merchant, field, value):  # noqa: F811
    intent = new_intent()
    _, posted = await pay(adapter, http, merchant, intent, "fail")
    verdict = await adapter.verify(intent, {**posted, field: value})
    assert verdict.status == UNKNOWN and fake.calls == []


async def test_an_unsigned_claim_concludes_nothing_and_costs_no_gateway_call(adapter, fake, http, merchant):  # noqa: F811
    intent = new_intent()
    _, posted = await pay(adapter, http, merchant, intent)  # even about an attempt that is in fact paid
    claim = {k: v for k, v in posted.items() if k not in ("verify_sign", "verify_key")}
    verdict = await adapter.verify(intent, claim)
    assert verdict.status == UNKNOWN and "no verify_sign" in verdict.reason and fake.calls == []
    assert (await adapter.query(intent)).status == PAID  # what reconciliation then finds


async def test_amount_mismatch_is_never_paid(adapter, fake, http, merchant):  # noqa: F811
    fake.switches.amount_mismatch = True
    intent = new_intent()
    _, posted = await pay(adapter, http, merchant, intent)
    verdict = await adapter.verify(intent, posted)
    assert verdict.status == FAILED and "amount mismatch" in verdict.reason and verdict.amount_minor == 49900
    assert (await adapter.query(intent)).status == FAILED


async def test_currency_mismatch_is_never_paid(adapter, fake, http, merchant):  # noqa: F811
    paid_in_usd = new_intent(currency="USD")
    _, posted = await pay(adapter, http, merchant, paid_in_usd)
    as_if_bdt = new_intent(reference=paid_in_usd.reference)
    verdict = await adapter.verify(as_if_bdt, posted)
    assert verdict.status == FAILED and "currency mismatch" in verdict.reason


async def test_a_genuine_ipn_of_another_attempt_does_not_pay_this_one(adapter, fake, http, merchant):  # noqa: F811
    mine, other = new_intent(), new_intent()
    await adapter.start(mine, merchant.urls())
    _, posted = await pay(adapter, http, merchant, other)
    verdict = await adapter.verify(mine, posted)  # tran_id of `other`: asked about `mine` by its own reference
    assert verdict.status == PENDING


async def test_invalid_transaction_concludes_nothing(adapter, fake):
    intent = new_intent()
    fields = {"tran_id": intent.reference, "val_id": "2611271200abcdef", "status": "VALID", "amount": "500.00"}
    signed = {**fields, "verify_key": ",".join(fields), "verify_sign": sign_fields(fields, DEMO_STORE_PASSWD)}
    verdict = await adapter.verify(intent, signed)
    assert verdict.status == UNKNOWN and "val_id" in verdict.reason and fake.calls == [VALIDATION_PATH]


async def test_risk_level_one_waits_for_staff(adapter, fake, http, merchant):  # noqa: F811
    fake.switches.risk = True
    intent = new_intent()
    _, posted = await pay(adapter, http, merchant, intent)
    verdict = await adapter.verify(intent, posted)
    assert verdict.status == PENDING and "risk level 1" in verdict.reason
    assert (await adapter.query(intent)).status == PENDING


async def test_timeout_is_unknown_never_paid(fake, http, merchant):  # noqa: F811
    quick = SSLCommerzAdapter(fake.url, {"store_id": DEMO_STORE_ID, "store_passwd": DEMO_STORE_PASSWD}, "sandbox",
                              http, timeout=0.3)
    intent = new_intent()
    _, posted = await pay(quick, http, merchant, intent)
    fake.switches.timeout = True
    verdict = await quick.verify(intent, posted)
    assert verdict.status == UNKNOWN and "in time" in verdict.reason
    assert (await quick.query(intent)).status == UNKNOWN
    assert not (await quick.refund(intent, posted["bank_tran_id"], 100, "test")).ok


async def test_unreachable_gateway_is_unknown(http):  # noqa: F811
    gone = SSLCommerzAdapter(f"http://127.0.0.1:{free_port()}", {"store_id": "x", "store_passwd": "y"}, "sandbox",
                             http, timeout=2)
    verdict = await gone.query(new_intent())
    assert verdict.status == UNKNOWN and "reached" in verdict.reason


@pytest.mark.parametrize("status, body", [(500, b'{"status": "VALID"}'), (502, b"Bad gateway"),
                                          (200, b"<html>maintenance</html>"), (200, b"\xff\xfe\x00garbage"),
                                          (200, b'["VALID"]')])
async def test_a_broken_gateway_answer_is_unknown(http, status, body):  # noqa: F811
    async def answer(request):
        return web.Response(status=status, body=body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner, url = await serve(app, "127.0.0.1", 0)
    try:
        broken = SSLCommerzAdapter(url, {"store_id": "a", "store_passwd": "b"}, "sandbox", http, timeout=2)
        intent = new_intent()
        assert (await broken.query(intent)).status == UNKNOWN
        fields = {"tran_id": intent.reference, "val_id": "v1"}
        signed = {**fields, "verify_key": "tran_id,val_id", "verify_sign": sign_fields(fields, "b")}
        assert (await broken.verify(intent, signed)).status == UNKNOWN
        with pytest.raises(GatewayError, match="could not be reached|refused"):
            await broken.start(intent, ReturnUrls("http://x/s", "http://x/f", "http://x/c"))
    finally:
        await runner.cleanup()


async def test_refund_full_and_partial(adapter, fake, http, merchant):  # noqa: F811
    intent = new_intent()
    _, posted = await pay(adapter, http, merchant, intent)
    paid = await adapter.verify(intent, posted)
    first = await adapter.refund(intent, paid.gateway_txn_id, 20000, "Customer asked")
    assert first.ok and first.gateway_refund_id in fake.refunds and fake.refunds[first.gateway_refund_id]["amount"] == "200.00"
    too_much = await adapter.refund(intent, paid.gateway_txn_id, 30001, "Again")
    assert not too_much.ok and "exceeds" in too_much.reason
    assert (await adapter.refund(intent, paid.gateway_txn_id, 30000, "Rest")).ok


async def test_session_refusals_raise_a_sentence(fake, http, merchant):  # noqa: F811
    wrong = SSLCommerzAdapter(fake.url, {"store_id": DEMO_STORE_ID, "store_passwd": "nope"}, "sandbox", http)
    with pytest.raises(GatewayError, match="Store Credential Error"):
        await wrong.start(new_intent(), merchant.urls())
    right = SSLCommerzAdapter(fake.url, {"store_id": DEMO_STORE_ID, "store_passwd": DEMO_STORE_PASSWD}, "sandbox",
                              http)
    with pytest.raises(GatewayError, match="at most 30"):
        await right.start(new_intent(reference="R" * 31), merchant.urls())
    fake.switches.refuse_session = True
    with pytest.raises(GatewayError, match="refused"):
        await right.start(new_intent(), merchant.urls())
    with pytest.raises(GatewayError, match="store_passwd"):
        SSLCommerzAdapter(fake.url, {"store_id": DEMO_STORE_ID}, "sandbox", http)


def test_lookup_key_names_only_a_tran_id(http):  # noqa: F811
    adapter = SSLCommerzAdapter("http://127.0.0.1:1", {"store_id": "a", "store_passwd": "b"}, "sandbox", http)
    assert adapter.lookup_key({"tran_id": " RBX "}) == LookupKey(reference="RBX")
    assert adapter.lookup_key({"val_id": "1"}) is None and adapter.lookup_key({"tran_id": ""}) is None


@pytest.mark.parametrize("text, minor", [("500.00", 50000), ("500", 50000), ("0.01", 1), ("500.005", None),
                                         ("abc", None), ("NaN", None), ("Infinity", None), ("", None),
                                         (500.0, None), (True, None), ("1e2", 10000)])
def test_amounts_parse_exactly(text, minor):
    assert text_to_minor(text, "BDT") == minor


def test_minor_units_print_as_the_gateways_decimal_text():
    assert [minor_to_text(n, "BDT") for n in (50000, 1, 123456789)] == ["500.00", "0.01", "1234567.89"]


async def test_the_fake_runs_as_a_program(http):  # noqa: F811
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 -- a child process for the whole test, not a blocking call
        [sys.executable, "-m", "radbill.payments.fakes.sslcommerz", "--port", str(port)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        assert f"http://127.0.0.1:{port}" in line and DEMO_STORE_PASSWD in line
        adapter = SSLCommerzAdapter(f"http://127.0.0.1:{port}",
                                    {"store_id": DEMO_STORE_ID, "store_passwd": DEMO_STORE_PASSWD}, "sandbox", http)
        assert (await adapter.query(new_intent())).status == PENDING
    finally:
        proc.terminate()
        proc.wait(10)


_values = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=100)
@given(fields=st.dictionaries(st.sampled_from(["tran_id", "val_id", "amount", "currency", "status", "risk_level"]),
                              _values, min_size=1), data=st.data())
def test_changing_any_signed_field_breaks_the_signature(fields, data):
    signed = {**fields, "verify_key": ",".join(fields), "verify_sign": sign_fields(fields, DEMO_STORE_PASSWD)}
    assert signed_fields(signed, DEMO_STORE_PASSWD) == fields
    assert signed_fields(signed, DEMO_STORE_PASSWD + "x") is None
    key = data.draw(st.sampled_from(sorted(fields)))
    new = data.draw(_values.filter(lambda v: v != fields[key]))
    assert signed_fields({**signed, key: new}, DEMO_STORE_PASSWD) is None
    assert signed_fields({k: v for k, v in signed.items() if k != key}, DEMO_STORE_PASSWD) is None


@settings(max_examples=100)
@given(minor=st.integers(0, 10**15), currency=st.sampled_from(["BDT", "JPY", "KWD", "USD"]))
def test_amount_text_round_trips_exactly(minor, currency):
    assert text_to_minor(minor_to_text(minor, currency), currency) == minor


@settings(max_examples=200)
@given(status=st.sampled_from(["VALID", "VALIDATED", "valid", "INVALID_TRANSACTION", "FAILED", "CANCELLED",
                               "PENDING", "UNATTEMPTED", "EXPIRED", "", "PAID"]),
       mine=st.booleans(), amount=st.sampled_from(["500.00", "500", "500.01", "499.99", "5.00", "500.001", "x", ""]),
       currency=st.sampled_from(["BDT", "bdt", "USD", ""]), risk=st.sampled_from(["0", "1", "", None]),
       bank_tran_id=st.sampled_from(["B123", ""]))
def test_paid_only_when_every_rule_holds(status, mine, amount, currency, risk, bank_tran_id):
    adapter = SSLCommerzAdapter("http://127.0.0.1:1", {"store_id": "a", "store_passwd": "b"}, "sandbox", None)
    intent = new_intent(reference="RB0123456789")
    record = {"status": status, "tran_id": intent.reference if mine else "RB9999999999", "currency_amount": amount,
              "currency_type": currency, "risk_level": risk, "bank_tran_id": bank_tran_id}
    verdict = adapter._judge(intent, record)  # noqa: SLF001 -- the one place the rules live
    every_rule = (status.upper() in ("VALID", "VALIDATED") and mine and amount in ("500.00", "500")
                  and currency.upper() == "BDT" and risk in ("0", "", None) and bank_tran_id)
    assert (verdict.status == PAID) == bool(every_rule)
    if verdict.status == PAID:
        assert (verdict.amount_minor, verdict.gateway_txn_id, verdict.reference) == (50000, "B123", intent.reference)
