"""Property: whatever the gateway's answers and whatever order callbacks, IPNs, redirects and queries arrive in
(mismatched and replayed ones mixed in), an intent makes at most one payment, of exactly the verified amount, and
every ledger transaction balances."""

import asyncio

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radbill.payments.gateway import FAILED, PAID, PENDING, UNKNOWN, Verification
from radbill.payments.settle import create_intent, settle
from tests.payments.helpers import NOW, unbalanced_ledger_txns, world

ANSWERS = ["paid", "paid_other_amount", "paid_other_currency", "paid_other_reference", "paid_no_txn",
           "paid_other_txn", PENDING, FAILED, UNKNOWN]
SOURCES = ["callback", "ipn", "redirect", "query"]


def answer(kind: str, intent) -> Verification:
    good = {"status": PAID, "gateway_txn_id": "TRX-A", "amount_minor": intent["amount_minor"], "currency": "BDT",
            "reference": intent["reference"]}
    changes = {"paid": {}, "paid_other_amount": {"amount_minor": intent["amount_minor"] + 1},
               "paid_other_currency": {"currency": "USD"}, "paid_other_reference": {"reference": "x" * 24},
               "paid_no_txn": {"gateway_txn_id": None}, "paid_other_txn": {"gateway_txn_id": "TRX-B"}}
    if kind in changes:
        return Verification(**{**good, **changes[kind]})
    return Verification(kind, reason="not yet")


async def scenario(url: str, steps: list[tuple[str, str]], advance: bool) -> None:
    conn = await asyncpg.connect(url)
    tx = conn.transaction()
    await tx.start()
    try:
        w = await world(conn)
        intent = await create_intent(conn, w.system, w.customer["id"], None if advance else w.bill["id"],
                                     30000 if advance else None, w.gateway["id"], now=NOW)
        outcomes = [(await settle(conn, intent["id"], answer(kind, intent), source, now=NOW)).outcome
                    for source, kind in steps]
        payments = await conn.fetch("SELECT * FROM payments WHERE customer_id = $1", w.customer["id"])
        proven = [k for _, k in steps if k in ("paid", "paid_other_txn")]
        assert len(payments) == (1 if proven else 0), (steps, outcomes)
        assert outcomes.count("credited") == len(payments)
        if payments:
            assert payments[0]["amount_minor"] == intent["amount_minor"]
            assert payments[0]["txn_id"] == ("TRX-A" if proven[0] == "paid" else "TRX-B")
            row = await conn.fetchrow("SELECT status, payment_id FROM payment_intents WHERE id = $1", intent["id"])
            assert (row["status"], row["payment_id"]) == ("paid", payments[0]["id"])
        assert not await unbalanced_ledger_txns(conn)
        assert await conn.fetchval("SELECT count(*) FROM payment_events WHERE intent_id = $1 AND source <> 'start'",
                                   intent["id"]) == len(steps)
    finally:
        await tx.rollback()
        await conn.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(SOURCES), st.sampled_from(ANSWERS)), min_size=1, max_size=8),
       st.booleans())
def test_at_most_one_payment_of_the_verified_amount(shared_db_url, steps, advance):
    asyncio.run(scenario(shared_db_url, steps, advance))
