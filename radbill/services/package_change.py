"""A billed package change: the one service the admin, the portal (request approved or upgrade paid) and the
scheduler call. The rule is radbill.billing.package_change; this module loads what it needs, shows it as a
preview, and applies it in one transaction:

- applies now: customers.change_package (the router gets the new rate by CoA, or a disconnect), then the money:
  a charge is a bill of kind 'package_change' (posted like any bill, drawn from the advance wallet at once;
  paying it buys no days and debits the sub-operator the wholesale difference), a credit goes to the advance
  wallet (revenue and VAT reversed) and pays the open change charges first; the sub-operator gets back the
  wholesale difference it paid (_credit: the rule, so a change and its reverse leave every wallet as it was);
- applies from the next period: customers.next_package_id/next_package_at; the bill run prices periods from then
  with it and apply_due_changes (a scheduler job) switches the package, through the same change_package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import asyncpg

from radbill import clock
from radbill.billing.package_change import ChangeTerms, change_terms
from radbill.billing.periods import Cycle, local_date, local_midnight_utc, period_containing
from radbill.billing.pricing import Amounts, apply_vat, customer_price
from radbill.errors import RadbillError, ValidationError
from radbill.i18n import _
from radbill.policy import Speeds
from radbill.services import audit, billing, change_wholesale, customers, webhooks
from radbill.services.ledger import Entry, account_id, debit_reseller, post
from radbill.tenancy import Scope

log = logging.getLogger("radbill.package_change")

_CONTEXT_SQL = """
SELECT bp.billing_type, bp.cycle_kind, bp.billing_day, bp.validity_days, bp.change_billing,
       coalesce(c.billing_anchor, (c.created_at AT TIME ZONE o.timezone)::date) AS service_start,
       p.name AS package_name, np.name AS next_package_name
  FROM customers c JOIN operators o ON o.id = c.operator_id
  JOIN billing_profiles bp ON bp.id = c.billing_profile_id
  JOIN packages p ON p.id = c.package_id
  LEFT JOIN packages np ON np.id = c.next_package_id
 WHERE c.id = $1
"""
_PRICES_SQL = """
SELECT p.price_minor, pa.retail_price_minor, coalesce(pa.wholesale_price_minor, 0) AS wholesale_minor
  FROM packages p LEFT JOIN package_assignments pa ON pa.package_id = p.id AND pa.operator_id = $2
 WHERE p.id = $1
"""
# the bill run's VAT rule (radbill.services.billing): the nearest active VAT profile up the operator line
_VAT_SQL = """
SELECT vp.rate_basis_points, vp.price_includes_vat
  FROM radbill_line($1) l JOIN operators a ON a.id = l.operator_id
  JOIN vat_profiles vp ON vp.id = a.vat_profile_id AND vp.active
 ORDER BY l.distance LIMIT 1
"""
_PERIOD_BILLS_SQL = """
SELECT count(*) FILTER (WHERE period_start <= $2 AND period_end > $2) AS current,
       count(*) FILTER (WHERE period_start > $2) AS later
  FROM bills WHERE customer_id = $1 AND kind = 'period' AND status <> 'void'
"""

Router = str  # 'coa' | 'disconnect' | 'next_login' | 'none' | 'later'


@dataclass(frozen=True, slots=True)
class ChangePlan:
    """What changing `customer` to `package` at `now` does; the admin and portal previews render it."""

    customer: asyncpg.Record
    package: asyncpg.Record
    old_package_name: str
    setting: str
    terms: ChangeTerms
    old_price_minor: int
    new_price_minor: int
    custom_price: bool
    amounts: Amounts | None  # the charge or credit with VAT (None: nothing moves)
    applies_at: datetime
    rate: str
    router: Router
    today: object
    period_end: object
    bill_id: int | None = None  # the charge's bill, once applied
    period_start: object = None

    @property
    def charge_minor(self) -> int:
        return self.amounts.total_minor if self.amounts and self.terms.price_delta_minor > 0 else 0

    @property
    def credit_minor(self) -> int:
        return self.amounts.total_minor if self.amounts and self.terms.price_delta_minor < 0 else 0

    @property
    def signed_minor(self) -> int:
        """Charge positive, credit negative: what the confirmation form carries to detect a changed figure."""
        return self.charge_minor - self.credit_minor

    @property
    def upgrade(self) -> bool:
        return self.new_price_minor > self.old_price_minor


def rate_of(package) -> str:
    """The package's Mikrotik-Rate-Limit, as change_package sends it."""
    return Speeds(package["download_kbps"], package["upload_kbps"], package["burst_download_kbps"],
                  package["burst_upload_kbps"], package["burst_threshold_download_kbps"],
                  package["burst_threshold_upload_kbps"], package["burst_time_seconds"]).rate_limit()


async def _price(conn, customer, package_id: int) -> tuple[int, int]:
    row = await conn.fetchrow(_PRICES_SQL, package_id, customer["operator_id"])
    price = customer_price(row["price_minor"], row["retail_price_minor"], customer["custom_price_minor"])
    wholesale = row["wholesale_minor"] if customer["operator_kind"] == "sub_operator" else 0
    return price, wholesale


async def _router(conn, customer, applies: str) -> Router:
    if applies != "now":
        return "later"
    if customer["status"] != "active":
        return "none"
    sessions = await conn.fetch(customers.OPEN_SESSIONS, customer["username"])
    if not sessions:
        return "next_login"
    return "coa" if any(s["nas_type"] == "mikrotik" for s in sessions) else "disconnect"


async def _plan(conn, customer, package_id: int, now: datetime, *, undo_waiting: bool = False) -> ChangePlan:
    """The change to `package_id` at `now`; `undo_waiting`: cancelling the customer's waiting change instead,
    i.e. from the waiting package back to the current one as it was scheduled (from the next period), so the
    money it moves is exactly the reverse of what scheduling it moved."""
    ctx = await conn.fetchrow(_CONTEXT_SQL, customer["id"])
    if undo_waiting:
        package = await conn.fetchrow("SELECT * FROM packages WHERE id = $1", customer["package_id"])
        from_id, from_name, setting = customer["next_package_id"], ctx["next_package_name"], "next_period"
    else:
        package = await customers.sellable_package(conn, customer, package_id)
        from_id, from_name, setting = customer["package_id"], ctx["package_name"], ctx["change_billing"]
    tz = customer["timezone"]
    today = local_date(now, tz)
    cycle = Cycle(ctx["cycle_kind"], ctx["billing_day"], ctx["validity_days"],
                  ctx["service_start"] if ctx["cycle_kind"] == "validity_days" else None)
    period = period_containing(cycle, today)
    billed = await conn.fetchrow(_PERIOD_BILLS_SQL, customer["id"], today)
    (old_price, old_ws), (new_price, new_ws) = (await _price(conn, customer, from_id),
                                                await _price(conn, customer, package["id"]))
    terms = change_terms(setting, ctx["billing_type"], old_price, new_price, period, today,
                         ctx["service_start"], billed["current"] > 0, old_ws, new_ws, billed["later"])
    amounts = None
    if terms.price_delta_minor:
        vat = await conn.fetchrow(_VAT_SQL, customer["operator_id"])
        amounts = apply_vat(abs(terms.price_delta_minor), vat["rate_basis_points"] if vat else 0,
                            vat["price_includes_vat"] if vat else False)
    applies_at = now if terms.applies == "now" else local_midnight_utc(period.end, tz)
    return ChangePlan(customer, package, from_name, setting, terms, old_price, new_price,
                      customer["custom_price_minor"] is not None, amounts, applies_at, rate_of(package),
                      await _router(conn, customer, "later" if undo_waiting else terms.applies), today,
                      period.end if period else None, period_start=period.start if period else None)


async def preview_change(conn: asyncpg.Connection, scope: Scope, customer_id: int, package_id: int,
                         now: datetime | None = None) -> ChangePlan:
    """What change_package_billed would do now, writing nothing (ValidationError if the package is not sellable)."""
    customer = await customers.get_customer(conn, scope, customer_id)
    if customer["package_id"] == package_id:
        raise ValidationError(_("The customer already has this package: choose another one."),
                              {"package_id": _("the current package")})
    return await _plan(conn, customer, package_id, now or clock.now())


async def change_package_billed(conn: asyncpg.Connection, scope: Scope, customer_id: int, package_id: int, *,
                                now: datetime | None = None, ip: str | None = None,
                                expected_minor: int | None = None) -> ChangePlan:
    """Change the package and bill it per the billing profile, in one transaction. `expected_minor`: the
    previewed figure (charge positive, credit negative); if it no longer holds the change is refused, so staff
    never confirm an amount they were not shown."""
    now = now or clock.now()
    async with conn.transaction():
        customer = await customers.get_customer(conn, scope, customer_id, for_update=True)
        if customer["package_id"] == package_id:
            raise ValidationError(_("The customer already has this package: choose another one."),
                                  {"package_id": _("the current package")})
        plan = await _plan(conn, customer, package_id, now)
        if expected_minor is not None and expected_minor != plan.signed_minor:
            raise ValidationError(_("The amount changed since the preview (a new day or a new bill): look at the "
                                    "preview again and confirm."), {"expected_minor": _("changed")})
        if plan.terms.applies == "now":
            await _set_next(conn, customer_id, None, None)
            await customers.change_package(conn, scope, customer_id, package_id, ip)
        elif await _set_next(conn, customer_id, package_id, plan.applies_at):
            # the switch itself is customer.package_changed, when apply_due_changes makes it
            await webhooks.customer_updated(conn, customer["operator_id"], customer_id, {
                "next_package_id": [customer["next_package_id"], package_id],
                "next_package_at": [customer["next_package_at"], plan.applies_at]})
        bill_id = await _charge(conn, plan, now) if plan.charge_minor else None
        if plan.credit_minor or (plan.terms.wholesale_delta_minor and not plan.charge_minor):
            await _credit(conn, scope, plan, now)
        await audit.record(conn, scope, "customer.package_change_billed", "customer", customer_id,
                           {"package_id": [customer["package_id"], package_id], "package": plan.package["name"],
                            "applies": plan.terms.applies, "applies_at": plan.applies_at,
                            "setting": plan.setting, "basis": plan.terms.basis, "days": plan.terms.days,
                            "charge_minor": plan.charge_minor, "credit_minor": plan.credit_minor,
                            "wholesale_delta_minor": plan.terms.wholesale_delta_minor, "bill_id": bill_id}, ip)
        return replace(plan, bill_id=bill_id)


# the bill that scheduling a waiting change made (a later period already billed at the old price): the latest
# package change bill for the waiting package
_WAITING_CHARGE_SQL = """
SELECT id, status FROM bills
 WHERE customer_id = $1 AND kind = 'package_change' AND package_id = $2 AND status <> 'void'
 ORDER BY id DESC LIMIT 1
"""


async def preview_cancel(conn: asyncpg.Connection, scope: Scope, customer_id: int,
                         now: datetime | None = None) -> ChangePlan:
    """What cancel_waiting_change would do now, writing nothing (ValidationError when nothing is waiting)."""
    customer = await customers.get_customer(conn, scope, customer_id)
    return await _undo_plan(conn, customer, now or clock.now())


async def _undo_plan(conn, customer, now: datetime) -> ChangePlan:
    if customer["next_package_id"] is None:
        raise ValidationError(_("This customer has no package change waiting for the next period: there is "
                                "nothing to cancel."), {"package_id": _("nothing waiting")})
    return await _plan(conn, customer, customer["package_id"], now, undo_waiting=True)


async def cancel_waiting_change(conn: asyncpg.Connection, scope: Scope, customer_id: int, *,
                                now: datetime | None = None, ip: str | None = None,
                                expected_minor: int | None = None) -> ChangePlan:
    """Cancel the change waiting for the next period: the current package stays, and money scheduling it moved
    up front (a bill already issued for a later period) is reversed the way a change is billed, in one
    transaction. `expected_minor`: the previewed figure, as for change_package_billed."""
    now = now or clock.now()
    async with conn.transaction():
        customer = await customers.get_customer(conn, scope, customer_id, for_update=True)
        plan = await _undo_plan(conn, customer, now)
        if expected_minor is not None and expected_minor != plan.signed_minor:
            raise ValidationError(_("The amount changed since the preview (a new day or a new bill): look at the "
                                    "preview again and confirm."), {"expected_minor": _("changed")})
        await _set_next(conn, customer_id, None, None)
        charged = await conn.fetchrow(_WAITING_CHARGE_SQL, customer_id, customer["next_package_id"]) \
            if plan.credit_minor else None
        bill_id = None
        if charged is not None and charged["status"] != "paid":
            # never paid in full, so its wholesale was never taken: voiding it is the exact reverse
            from radbill.services.corrections import void_bill

            await void_bill(conn, scope, charged["id"], "the package change it charged was cancelled", now=now)
        else:
            bill_id = await _charge(conn, plan, now) if plan.charge_minor else None
            if plan.credit_minor or (plan.terms.wholesale_delta_minor and not plan.charge_minor):
                await _credit(conn, scope, plan, now, reverses=charged["id"] if charged is not None else 0)
        await audit.record(conn, scope, "customer.package_change_cancelled", "customer", customer_id,
                           {"next_package_id": [customer["next_package_id"], None], "package": plan.old_package_name,
                            "applies_at": customer["next_package_at"], "charge_minor": plan.charge_minor,
                            "credit_minor": plan.credit_minor, "bill_id": bill_id,
                            "wholesale_delta_minor": plan.terms.wholesale_delta_minor}, ip)
        return replace(plan, bill_id=bill_id)


async def apply_paid_change(conn: asyncpg.Connection, scope: Scope, intent: asyncpg.Record,
                            now: datetime) -> int | None:
    """Settlement's hook for a portal upgrade paid online (the caller holds the intent's lock and checked it is
    not paid yet, so this runs once): apply the package and return the charge's bill for the payment to pay.
    A change no longer possible (the package retired, already on it) is skipped and None returned: captured
    money is credited all the same, to the advance."""
    if intent["package_id"] is None or intent["package_applied_at"] is not None:
        return intent["bill_id"]
    try:
        plan = await change_package_billed(conn, scope, intent["customer_id"], intent["package_id"], now=now)
    except ValidationError as exc:
        log.warning("paid package change of intent %s not applied: %s", intent["id"], exc)
        return None
    await conn.execute("UPDATE payment_intents SET package_applied_at = $2 WHERE id = $1", intent["id"], now)
    return plan.bill_id


async def _set_next(conn, customer_id: int, package_id: int | None, at: datetime | None) -> bool:
    """Set (or clear) the waiting change; whether it changed."""
    return await conn.execute("UPDATE customers SET next_package_id = $2, next_package_at = $3 WHERE id = $1"
                              " AND (next_package_id IS DISTINCT FROM $2::bigint OR next_package_at IS DISTINCT FROM"
                              " $3::timestamptz)", customer_id, package_id, at) == "UPDATE 1"


_CHARGE_SQL = """
INSERT INTO bills (customer_id, operator_id, package_id, period_start, period_end, currency, amount_minor,
                   vat_minor, total_minor, due_at, issued_at, kind, wholesale_minor, note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, 'package_change', $11, $12)
RETURNING id
"""


async def _charge(conn, plan: ChangePlan, now: datetime) -> int:
    """The charge as a bill of its own (due at once), posted like the run's bills and drawn from the advance; its
    wholesale difference first puts back what credits cut from the period's bills (change_wholesale.restore_cut),
    the rest it carries."""
    c, a = plan.customer, plan.amounts
    today, days = plan.today, plan.terms.days
    if plan.terms.basis == "days_left":
        start, end = today, plan.period_end
    elif plan.terms.basis == "days_used" and days > 0:
        start, end = today - timedelta(days=days), today
    else:  # only a later period's bill moved money: the charge names the day it was made
        start, end = today, today + timedelta(days=1)
    note = f"package change: {plan.old_package_name} -> {plan.package['name']}"
    restored, pay_now = await change_wholesale.restore_cut(conn, plan, max(0, plan.terms.wholesale_delta_minor))
    wholesale = max(0, plan.terms.wholesale_delta_minor) - restored
    if pay_now:
        await debit_reseller(conn, c["operator_id"], c["operator_parent_id"], c["currency"], pay_now,
                             memo=f"customer {c['username']}: {note}")
    bill_id = await conn.fetchval(_CHARGE_SQL, c["id"], c["operator_id"], plan.package["id"], start, end,
                                  c["currency"], a.net_minor, a.vat_minor, a.total_minor, now, wholesale, note)
    await conn.execute(billing._ACCOUNTS_SQL, [bill_id])  # noqa: SLF001 -- the run's own posting, reused
    await conn.execute(billing._BILL_ENTRIES_SQL, [bill_id])  # noqa: SLF001
    await billing.apply_advance(conn, [bill_id], now)
    await webhooks.emit_bills(conn, [bill_id])
    return bill_id


async def _credit(conn, scope: Scope, plan: ChangePlan, now: datetime, *, reverses: int | None = None) -> None:
    """What a credit moves (a cheaper package, or the way back from a dearer one): the one rule.

    - The customer: the difference with its VAT goes to the advance wallet (revenue and VAT reversed), and the
      wallet at once pays the customer's open package change charges of the current period, oldest first; so a
      change reversed before its charge was paid leaves no bill to pay beside a wallet to spend. The rest waits
      for the next bill.
    - The sub-operator: its wholesale is taken when a bill is paid in full, each bill carrying the wholesale it
      takes (fixed when issued). A credit's wholesale refund first lowers the wholesale still to be taken on the
      customer's unpaid bills covering the changed days, oldest first, and only the rest goes back now: what
      those bills took when paid (anything beyond them, which these rules leave none of, goes back as well).
      The bills in turn (change_wholesale.COVERING_BILLS_SQL): the period's change charges not paid
      in full (the wallet is about to pay them), those paid (the refund given back now: the reverse of a charge
      is its own bill), then the period bills not paid in full and those paid. A paid bill's figure is lowered
      by what it gives back, so a later reversal of its payment returns only what is left. The days used of a
      period whose bill is not issued yet (that bill will take the new package's wholesale for the whole
      period) wait for that bill: the bill run takes them off it (customers.wholesale_credit_minor). A change
      and its reverse thus leave the sub-operator's balance where it was, less the wholesale of the days the
      customer kept the dearer package, whenever the bills are paid; and a period bill voided after a credit
      leaves it where it would be without the change.
    - A wholesale difference with no price change (a custom price) is given back by the rule above, or taken as
      a charge's would be: it first puts back what credits cut (change_wholesale.restore_cut), then raises the
      period's unpaid bill, and only without one is it debited at once.
    `reverses` (cancelling a waiting change): the id of that change's own charge, paid (cancel_waiting_change
    voids it when unpaid); the credit gives back what it took and touches no other bill.
    """
    c = plan.customer
    currency, op = c["currency"], c["operator_id"]
    covering = [] if plan.period_start is None else \
        await change_wholesale.covering_bills(conn, c["id"], plan.period_start)
    wholesale = plan.terms.wholesale_delta_minor
    if wholesale < 0:
        mine = [b for b in covering if b["id"] == reverses] if reverses is not None else covering
        wholesale = -await change_wholesale.lower(conn, plan, mine, -wholesale, wait=reverses is None)
    elif wholesale > 0 and reverses is None:  # no charge to carry it (a custom price): as a charge would
        restored, pay_now = await change_wholesale.restore_cut(conn, plan, wholesale)
        wholesale -= restored
        wholesale -= await change_wholesale.raise_open_period_bill(conn, covering, wholesale)
        wholesale += pay_now  # debited at once with the rest, below
    if plan.credit_minor:
        a = plan.amounts
        revenue = await account_id(conn, "revenue", op, currency)
        vat = await account_id(conn, "vat_payable", op, currency)
        advance = await account_id(conn, "customer_advance", op, currency, c["id"])
        await post(conn, [Entry(revenue, a.net_minor), Entry(vat, a.vat_minor), Entry(advance, -a.total_minor)],
                   currency, "package_change_credit", memo=f"package change to {plan.package['name']}",
                   created_by=scope.account_id)
    memo = f"customer {c['username']}: package change to {plan.package['name']}"
    if wholesale > 0:
        await debit_reseller(conn, op, c["operator_parent_id"], currency, wholesale, memo=memo,
                             created_by=scope.account_id)
    elif wholesale < 0:
        await conn.execute("UPDATE operators SET balance_minor = balance_minor + $2 WHERE id = $1", op, -wholesale)
        reseller = await account_id(conn, "operator_balance", op, currency)
        parent = await account_id(conn, "wholesale", c["operator_parent_id"], currency)
        await post(conn, [Entry(parent, -wholesale), Entry(reseller, wholesale)], currency, "wholesale_return",
                   memo=memo, created_by=scope.account_id)
    open_charges = [b["id"] for b in covering if b["kind"] == "package_change" and b["status"] != "paid"]
    if plan.credit_minor and open_charges and reverses is None:
        await billing.apply_advance(conn, open_charges, now)


_DUE_SQL = """
SELECT c.id, c.next_package_id, o.id AS operator_id, o.path::text AS path
  FROM customers c JOIN operators o ON o.id = c.operator_id
 WHERE c.next_package_at <= $1 ORDER BY c.next_package_at, c.id
"""


async def apply_due_changes(conn: asyncpg.Connection, now: datetime) -> int:
    """Switch the customers whose waiting change has come due (the scheduler's job); the money was settled by
    the bill run, which priced the new period with the new package. Returns how many changed."""
    done = 0
    for row in await conn.fetch(_DUE_SQL, now):
        scope = Scope.system(row["operator_id"], row["path"])
        try:
            async with conn.transaction():
                await _set_next(conn, row["id"], None, None)
                await customers.change_package(conn, scope, row["id"], row["next_package_id"])
            done += 1
        except RadbillError as exc:  # e.g. the package was retired meanwhile: the next customer must still move
            log.warning("waiting package change of customer %s failed: %s", row["id"], exc)
    return done
