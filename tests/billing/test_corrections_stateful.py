"""A Hypothesis state machine mixes bill runs, cash and online payments, advance, voids, reversals, gateway
refunds and staff reversals of online payments (chargebacks) against the real database and checks after every
step: every ledger transaction balances, wallets and bills equal the ledger, the reseller got back exactly the
wholesale of what is no longer paid and gave back exactly the online credit of what was reversed (by staff or by a
refund, once), every clearing account holds what is left of the online money, and no customer holds service that
is not paid for (a refund takes service back like any reversal: it is one)."""

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta

import asyncpg
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from radbill import clock
from radbill.billing.service import PaidSpan
from radbill.errors import ValidationError
from radbill.payments import refunds
from radbill.payments.gateway import RefundResult
from radbill.services import billing, corrections, ledger, payments
from tests import factories as f
from tests.billing.helpers import customer, isp, local, scope_of
from tests.payments.helpers import unbalanced_ledger_txns

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
        self.online_in = self.online_back = 0  # online money credited; taken back (reversed or refunded)
        self.sub_online = 0  # what the sub-operator's balance holds for its customers' online payments
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
        self.gateway = await f.insert(self.conn, "payment_gateways", {
            "operator_id": self.w.operator["id"], "kind": "bkash", "label": "bKash", "base_url": "http://127.0.0.1:9"})

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
        rows = self.run(self.conn.fetch("SELECT id, method, operator_id, amount_minor - reversed_minor AS left"
                                        " FROM payments WHERE customer_id = $1 AND reversed_minor < amount_minor"
                                        " ORDER BY id", self.customers[who]))
        self.reverse_one(rows, pick, share, key)

    @rule(who=st.integers(0, 2), pick=st.integers(0, 5), share=st.integers(1, 110), key=st.booleans())
    def chargeback(self, who, pick, share, key):
        """Staff reverse an online payment (a chargeback: no gateway refund); the sub-operator gives its credit back."""
        rows = self.run(self.conn.fetch("SELECT id, method, operator_id, amount_minor - reversed_minor AS left"
                                        " FROM payments WHERE customer_id = $1 AND reversed_minor < amount_minor"
                                        " AND method = 'gateway' ORDER BY id", self.customers[who]))
        self.reverse_one(rows, pick, share, key)

    def reverse_one(self, rows, pick, share, key):
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
        if p["method"] == "gateway":
            self.online_back += amount
            self.sub_online -= amount if p["operator_id"] == self.w.sub["id"] else 0
        if idem:  # the same form again reverses nothing more
            assert self.run(corrections.reverse_payment(self.conn, self.w.system, p["id"], amount, "test",
                                                        idempotency_key=idem, now=self.now)).duplicate

    @rule(who=st.integers(0, 2), amount=st.integers(1, 120000))
    def online(self, who, amount):
        """Money a gateway verified, credited through the one payment rule (settle's part is tested elsewhere)."""
        cid = self.customers[who]
        capture = payments.GatewayCapture(self.gateway["id"], self.w.operator["id"], f"TX{next(_keys)}")
        paid = self.run(payments.record_gateway_payment(self.conn, self.w.system, cid, amount, None, capture,
                                                        now=self.now)).payment
        self.run(f.insert(self.conn, "payment_intents", {
            "reference": f"ref-{paid['id']}-0123456789", "operator_id": paid["operator_id"], "customer_id": cid,
            "gateway_id": self.gateway["id"], "amount_minor": amount, "currency": "BDT", "status": "paid",
            "payment_id": paid["id"], "expires_at": self.now}))
        self.paid_in += amount
        self.online_in += amount
        self.sub_online += amount if paid["operator_id"] == self.w.sub["id"] else 0

    @rule(who=st.integers(0, 2), pick=st.integers(0, 5), share=st.integers(1, 110))
    def refund(self, who, pick, share):
        """A refund the gateway confirmed: the money part of refunds.refund_payment (its HTTP part is tested against
        the fake bKash in tests/payments/test_refunds.py)."""
        rows = self.run(self.conn.fetch("SELECT p.id, p.operator_id FROM payments p WHERE p.customer_id = $1"
                                        " AND p.method = 'gateway' ORDER BY p.id", self.customers[who]))
        if not rows:
            return
        p = rows[pick % len(rows)]
        scope = scope_of(self.w.operator)
        payment = self.run(refunds.refundable(self.conn, scope, p["id"]))
        amount = max(1, payment["available_minor"] * share // 100)
        try:
            payment, refund_id = self.run(refunds._request(self.conn, scope, p["id"], amount, "test"))
        except ValidationError as exc:
            assert amount > payment["available_minor"], exc  # never more than is left after reversals and refunds
            return
        intent = self.run(self.conn.fetchrow("SELECT * FROM payment_intents WHERE id = $1", payment["intent_id"]))
        done = RefundResult(True, f"R{refund_id}", amount)
        # _record takes the time from the clock: the machine's own `now`, not the wall clock, or a refund in 2024's
        # books is judged against today (the service already looked used up, and none was taken back)
        with clock.frozen(self.now):
            self.run(refunds._record(self.conn, scope, payment, intent, self.gateway, refund_id, amount, "test",
                                     done))
        self.reversed += amount
        self.online_back += amount
        self.sub_online -= amount if p["operator_id"] == self.w.sub["id"] else 0

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
        assert not await unbalanced_ledger_txns(self.conn)  # the whole ledger, not only this world's accounts
        clearing = await q("SELECT coalesce(sum(e.amount_minor), 0) FROM ledger_entries e JOIN ledger_accounts a"
                           f" ON a.id = e.account_id WHERE {mine} AND a.kind = 'gateway_clearing'"
                           "   AND e.kind IN ('payment', 'payment_reversal')", ops)
        assert clearing == self.online_in - self.online_back  # the customer side of the online money
        assert await kind_sum("cash") == self.paid_in - self.online_in - (self.reversed - self.online_back)
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
        assert balance == topped - WHOLESALE * activated + self.sub_online == -await kind_sum("operator_balance")

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
