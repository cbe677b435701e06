"""A Hypothesis state machine drives bills, payments, advance, top-ups and credit limits against the real
database and checks after every step that the ledger and the tables agree: no money created or lost."""

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta

import asyncpg
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from radbill.errors import ValidationError
from radbill.services import billing, ledger, payments
from radbill.services.ledger import BalanceInsufficient
from tests import factories as f
from tests.billing.helpers import customer, isp, scope_of

WHOLESALE = 35000
_keys = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    url: str

    def __init__(self):
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.conn = self.run(asyncpg.connect(self.url))
        self.tx = self.conn.transaction()
        self.run(self.tx.start())
        self.now = datetime(2024, 1, 15, 6, tzinfo=UTC)
        self.paid_in = 0
        self.topped_up = 0
        self.last_key = None
        self.run(self.setup())

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    async def setup(self):
        self.w = await isp(self.conn, wholesale_minor=WHOLESALE, billing_day=1)
        vp = await f.insert(self.conn, "vat_profiles", {"operator_id": self.w.operator["id"], "name": "VAT",
                                                        "rate_basis_points": 1500, "price_includes_vat": True})
        await self.conn.execute("UPDATE operators SET vat_profile_id = $1 WHERE id = $2", vp["id"], self.w.operator["id"])
        anchor = date(2024, 1, 1)
        self.customers = [(await customer(self.conn, self.w, billing_anchor=anchor))["id"] for _ in range(3)]
        self.customers.append((await customer(self.conn, self.w, owner=self.w.operator, billing_anchor=anchor))["id"])

    def teardown(self):
        self.run(self.tx.rollback())
        self.run(self.conn.close())
        self.loop.close()

    @rule(days=st.integers(0, 45))
    def bill_run(self, days):
        self.now += timedelta(days=days)
        self.run(billing.generate_bills(self.conn, self.now, self.w.system, self.customers))

    @rule(who=st.integers(0, 3), amount=st.integers(1, 120000), to_bill=st.booleans())
    def cash(self, who, amount, to_bill):
        cid = self.customers[who]
        bill_id = None
        if to_bill:
            bill_id = self.run(self.conn.fetchval("SELECT id FROM bills WHERE customer_id = $1 AND status <> 'paid'"
                                                  " ORDER BY period_start DESC LIMIT 1", cid))
        self.last_key = (cid, amount, f"k{next(_keys)}")
        try:
            self.run(payments.record_cash_payment(self.conn, self.w.system, cid, amount, bill_id,
                                                  idempotency_key=self.last_key[2], now=self.now))
            self.paid_in += amount
        except BalanceInsufficient:
            self.last_key = None

    @precondition(lambda self: self.last_key is not None)
    @rule()
    def resubmit(self):
        cid, amount, key = self.last_key
        out = self.run(payments.record_cash_payment(self.conn, self.w.system, cid, amount, idempotency_key=key))
        assert out.duplicate

    @rule(who=st.integers(0, 3), amount=st.integers(1, 80000))
    def advance(self, who, amount):
        self.run(payments.add_advance_payment(self.conn, self.w.system, self.customers[who], amount, now=self.now))
        self.paid_in += amount

    @rule(amount=st.integers(1, 100000))
    def top_up(self, amount):
        self.run(ledger.top_up_reseller(self.conn, scope_of(self.w.operator), self.w.sub["id"], amount))
        self.topped_up += amount

    @rule(limit=st.integers(0, 150000))
    def credit_limit(self, limit):
        try:
            self.run(ledger.set_credit_limit(self.conn, scope_of(self.w.operator), self.w.sub["id"], limit))
        except ValidationError:
            pass

    @invariant()
    def books_agree(self):
        self.run(self.check())

    async def check(self):
        q = self.conn.fetchval
        ops = [self.w.root["id"], self.w.operator["id"], self.w.sub["id"]]
        mine = "a.operator_id = ANY($1::bigint[])"
        assert await q("SELECT count(*) FROM (SELECT e.txn_id FROM ledger_entries e JOIN ledger_accounts a"
                       f" ON a.id = e.account_id WHERE {mine} GROUP BY e.txn_id HAVING sum(e.amount_minor) <> 0) x",
                       ops) == 0
        assert await q(f"SELECT coalesce(sum(e.amount_minor), 0) FROM ledger_entries e JOIN ledger_accounts a"
                       f" ON a.id = e.account_id WHERE {mine}", ops) == 0
        def kind_sum(kind):
            return q("SELECT coalesce(sum(e.amount_minor), 0) FROM ledger_entries e JOIN ledger_accounts a"
                     f" ON a.id = e.account_id WHERE {mine} AND a.kind = $2", ops, kind)
        assert await kind_sum("cash") == self.paid_in + self.topped_up
        assert await q("SELECT coalesce(sum(amount_minor), 0) FROM payments WHERE customer_id = ANY($1)",
                       self.customers) == self.paid_in
        billed = await q("SELECT coalesce(sum(total_minor), 0) FROM bills WHERE customer_id = ANY($1)", self.customers)
        assert await kind_sum("revenue") + await kind_sum("vat_payable") == -billed
        wallets = 0
        for cid in self.customers:
            bal = await ledger.customer_balance(self.conn, self.w.system, cid)
            assert bal.advance_minor >= 0
            assert bal.due_minor == await q("SELECT coalesce(sum(total_minor - paid_minor), 0) FROM bills"
                                            " WHERE customer_id = $1", cid)
            wallets += bal.advance_minor
        paid_bills = await q("SELECT coalesce(sum(paid_minor), 0) FROM bills WHERE customer_id = ANY($1)", self.customers)
        assert self.paid_in == paid_bills + wallets  # every taka paid in sits on a bill or in a wallet
        sub = await self.conn.fetchrow("SELECT balance_minor, credit_limit_minor FROM operators WHERE id = $1",
                                       self.w.sub["id"])
        activated = await q("SELECT count(*) FROM bills b JOIN customers c ON c.id = b.customer_id"
                            " WHERE c.operator_id = $1 AND b.status = 'paid'", self.w.sub["id"])
        assert sub["balance_minor"] == self.topped_up - WHOLESALE * activated == -await kind_sum("operator_balance")
        assert sub["balance_minor"] >= -sub["credit_limit_minor"]
        assert await kind_sum("wholesale") == -WHOLESALE * activated


def test_ledger_state_machine(shared_db_url):
    LedgerMachine.url = shared_db_url
    run_state_machine_as_test(LedgerMachine, settings=settings(max_examples=20, stateful_step_count=20,
                                                               deadline=None))
