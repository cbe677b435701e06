"""A Hypothesis state machine mixes bill runs, payments, advance, voids and reversals against the real database and
checks after every step: every ledger transaction balances, wallets and bills equal the ledger, the reseller got
back exactly the wholesale of what is no longer paid, and no customer holds service that is not paid for."""

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta

import asyncpg
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from radbill.billing.service import PaidSpan
from radbill.errors import ValidationError
from radbill.services import billing, corrections, ledger, payments
from tests.billing.helpers import customer, isp, local, scope_of

WHOLESALE = 35000
_keys = itertools.count()


class CorrectionsMachine(RuleBasedStateMachine):
    url: str

    def __init__(self):
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.conn = self.run(asyncpg.connect(self.url))
        self.tx = self.conn.transaction()
        self.run(self.tx.start())
        self.now = datetime(2024, 1, 15, 6, tzinfo=UTC)
        self.paid_in = self.reversed = 0
        self.run(self.setup())

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    async def setup(self):
        self.w = await isp(self.conn, wholesale_minor=WHOLESALE, billing_day=1, credit_limit_minor=10**9)
        self.start = local(date(2024, 1, 1))  # every customer starts with service to 1 Jan (then billed)
        self.customers = [(await customer(self.conn, self.w, billing_anchor=date(2024, 1, 1),
                                          expires_at=self.start))["id"] for _ in range(2)]
        self.customers.append((await customer(self.conn, self.w, owner=self.w.operator, expires_at=self.start,
                                              billing_anchor=date(2024, 1, 1)))["id"])
        await billing.generate_bills(self.conn, self.now, self.w.system, self.customers)
        for cid in self.customers:  # January paid: there is service to take back from the first step
            await payments.record_cash_payment(self.conn, self.w.system, cid, 50000, now=self.now)
        self.paid_in = 50000 * len(self.customers)

    def teardown(self):
        self.run(self.tx.rollback())
        self.run(self.conn.close())
        self.loop.close()

    @rule(days=st.integers(0, 40))
    def bill_run(self, days):
        self.now += timedelta(days=days)
        self.run(billing.generate_bills(self.conn, self.now, self.w.system, self.customers))

    @rule(who=st.integers(0, 2), amount=st.integers(1, 120000))
    def cash(self, who, amount):
        self.run(payments.record_cash_payment(self.conn, self.w.system, self.customers[who], amount,
                                              idempotency_key=f"c{next(_keys)}", now=self.now))
        self.paid_in += amount

    @rule(who=st.integers(0, 2))
    def settle(self, who):
        """Pay exactly what the customer owes (the usual case: a period bought whole)."""
        owed = self.run(self.conn.fetchval("SELECT sum(total_minor - paid_minor)::bigint FROM bills WHERE customer_id = $1"
                                           " AND status IN ('unpaid', 'partial')", self.customers[who]))
        if owed:
            self.cash(who, owed)

    @rule(who=st.integers(0, 2), amount=st.integers(1, 80000))
    def advance(self, who, amount):
        self.run(payments.add_advance_payment(self.conn, self.w.system, self.customers[who], amount, now=self.now))
        self.paid_in += amount

    @rule(who=st.integers(0, 2), pick=st.integers(0, 5))
    def void(self, who, pick):
        bills = self.run(self.conn.fetch("SELECT id, status FROM bills WHERE customer_id = $1 ORDER BY id",
                                         self.customers[who]))
        if not bills:
            return
        bill = bills[pick % len(bills)]
        try:
            self.run(corrections.void_bill(self.conn, scope_of(self.w.operator), bill["id"], "test", now=self.now))
        except ValidationError:
            assert bill["status"] == "paid"  # the only refusal: a paid bill is reversed first

    @rule(who=st.integers(0, 2), pick=st.integers(0, 5), share=st.integers(1, 110), key=st.booleans())
    def reverse(self, who, pick, share, key):
        rows = self.run(self.conn.fetch("SELECT id, amount_minor - reversed_minor AS left FROM payments"
                                        " WHERE customer_id = $1 AND reversed_minor < amount_minor ORDER BY id",
                                        self.customers[who]))
        if not rows:
            return
        p = rows[pick % len(rows)]
        amount = max(1, p["left"] * share // 100)  # now and then more than is left
        idem = f"r{next(_keys)}" if key else None
        try:
            self.run(corrections.reverse_payment(self.conn, self.w.system, p["id"], amount, "test",
                                                 idempotency_key=idem, now=self.now))
        except ValidationError:
            assert amount > p["left"]
            return
        self.reversed += amount
        if idem:  # the same form again reverses nothing more
            assert self.run(corrections.reverse_payment(self.conn, self.w.system, p["id"], amount, "test",
                                                        idempotency_key=idem, now=self.now)).duplicate

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

        def kind_sum(kind):
            return q("SELECT coalesce(sum(e.amount_minor), 0) FROM ledger_entries e JOIN ledger_accounts a"
                     f" ON a.id = e.account_id WHERE {mine} AND a.kind = $2", ops, kind)
        assert await kind_sum("cash") == self.paid_in - self.reversed
        assert await q("SELECT coalesce(sum(reversed_minor), 0) FROM payments WHERE customer_id = ANY($1)",
                       self.customers) == self.reversed
        billed = await q("SELECT coalesce(sum(total_minor), 0) FROM bills WHERE customer_id = ANY($1)"
                         " AND status <> 'void'", self.customers)
        assert await kind_sum("revenue") + await kind_sum("vat_payable") == -billed
        wallets = 0
        for cid in self.customers:
            bal = await ledger.customer_balance(self.conn, self.w.system, cid)
            assert bal.advance_minor >= 0
            assert bal.due_minor == await q("SELECT coalesce(sum(total_minor - paid_minor), 0) FROM bills"
                                            " WHERE customer_id = $1 AND status <> 'void'", cid)
            wallets += bal.advance_minor
            await self.check_service(cid)
        on_bills = await q("SELECT coalesce(sum(paid_minor), 0) FROM bills WHERE customer_id = ANY($1)", self.customers)
        assert self.paid_in - self.reversed == on_bills + wallets  # every taka kept sits on a bill or in a wallet
        topped = -await q("SELECT coalesce(sum(e.amount_minor), 0) FROM ledger_entries e JOIN ledger_accounts a"
                          " ON a.id = e.account_id WHERE a.kind = 'operator_balance' AND e.kind = 'reseller_top_up'"
                          " AND a.operator_id = $1", self.w.sub["id"])
        activated = await q("SELECT count(*) FROM bills b JOIN customers c ON c.id = b.customer_id"
                            " WHERE c.operator_id = $1 AND b.status = 'paid'", self.w.sub["id"])
        balance = await q("SELECT balance_minor FROM operators WHERE id = $1", self.w.sub["id"])
        assert balance == topped - WHOLESALE * activated == -await kind_sum("operator_balance")

    async def check_service(self, cid):
        """Service held never exceeds what the paid bills buy: expiry <= max(start, now) + their lengths."""
        expires = await self.conn.fetchval("SELECT expires_at FROM customers WHERE id = $1", cid)
        paid = await self.conn.fetch("SELECT period_start, period_end FROM bills WHERE customer_id = $1"
                                     " AND status = 'paid'", cid)
        spans = [PaidSpan.of_bill(r["period_start"], r["period_end"], "Asia/Dhaka") for r in paid]
        bound = max(self.start, self.now) + sum((s.end_at - s.start_at for s in spans), timedelta())
        assert expires <= bound, (expires, bound)
        if await self.conn.fetchval("SELECT exists(SELECT 1 FROM bills WHERE customer_id = $1"
                                    " AND status IN ('unpaid', 'partial') AND due_at <= $2)", cid, self.now):
            status = await self.conn.fetchval("SELECT status FROM customers WHERE id = $1", cid)
            last = await self.conn.fetchval("SELECT max(created_at) FROM payment_reversals WHERE customer_id = $1", cid)
            if last == self.now:  # a reversal just left a due bill open: the customer is cut off
                assert status == "suspended"


def test_corrections_state_machine(shared_db_url):
    CorrectionsMachine.url = shared_db_url
    run_state_machine_as_test(CorrectionsMachine, settings=settings(max_examples=10, stateful_step_count=20,
                                                                    deadline=None))
