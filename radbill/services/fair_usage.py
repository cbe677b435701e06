"""Fair usage: data top-up packs, buying a top-up, and a customer's usage in the current data-cap window.

A top-up is paid from the customer's advance wallet (ledger: customer_advance debit, revenue credit, kind
'data_topup'), in the same transaction as the data_topups row the policy view adds to the window: money and bytes
move together or not at all. Staff collect cash with a payment first (it lands in the wallet); the portal will pay
online into the wallet the same way. The RADIUS module hears the row (NOTIFY) and lifts a throttled session by CoA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from radbill.catalog_forms import format_gigabytes, parse_gigabytes, parse_price
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.localize import money
from radbill.policy.caps import CapTier, next_threshold, tier_for
from radbill.policy.model import PolicyRow
from radbill.services import audit
from radbill.services.ledger import Entry, account_id, load_customer, post
from radbill.tenancy import CustomerScope, Scope

# packs the customer's own operator or any operator above it offers (a reseller sells its parent's packs)
PACKS_FOR_CUSTOMER = """
    SELECT k.* FROM data_topup_packs k
      JOIN operators o ON o.id = k.operator_id
     WHERE o.path @> (SELECT op.path FROM customers c JOIN operators op ON op.id = c.operator_id WHERE c.id = $1)
       AND k.active
     ORDER BY k.bytes, k.id
"""
WALLET = """
    SELECT coalesce(-sum(e.amount_minor), 0) FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
     WHERE a.kind = 'customer_advance' AND a.customer_id = $1 AND a.currency = $2
"""
POLICY = "SELECT * FROM radbill_customer_policy($1)"


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: date
    bytes: int


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """A capped customer's window: used, topped up, the tier reached and where the next slow-down starts."""

    window_start: datetime | None
    window_end: datetime | None
    used_bytes: int
    topup_bytes: int
    tiers: tuple[CapTier, ...]
    tier: int
    next_at_bytes: int | None
    days: list[DayUsage]


# ---- packs ------------------------------------------------------------------------------------------------

async def list_packs(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """Packs owned inside the caller's subtree, newest last."""
    return await conn.fetch(
        "SELECT k.*, o.name AS owner_name FROM data_topup_packs k JOIN operators o ON o.id = k.operator_id"
        " WHERE o.path <@ $1::ltree ORDER BY k.active DESC, k.bytes, k.id", scope.path)


async def packs_for_customer(conn: asyncpg.Connection, customer_id: int) -> list[asyncpg.Record]:
    """The active packs a customer may buy (call after a scoped load of the customer)."""
    return await conn.fetch(PACKS_FOR_CUSTOMER, customer_id)


def pack_values(form: Mapping, currency: str) -> dict:
    """Validate a pack form (name, size in GB, price); ValidationError names each wrong field."""
    errors, values = {}, {"name": str(form.get("name") or "").strip()[:100]}
    if not values["name"]:
        errors["name"] = _("Give the pack a name, like 20 GB extra.")
    try:
        values["bytes"] = parse_gigabytes(str(form.get("size_gb") or ""))
    except ValueError as exc:
        errors["size_gb"] = str(exc)
    try:
        values["price_minor"] = parse_price(str(form.get("price") or ""), currency)
    except ValueError as exc:
        errors["price"] = str(exc)
    if errors:
        raise ValidationError(_("Please correct the top-up pack."), errors)
    return values


async def create_pack(conn: asyncpg.Connection, scope: Scope, form: Mapping, ip: str | None = None) -> int:
    """A new pack owned by the caller's operator, in its currency."""
    currency = await conn.fetchval("SELECT currency FROM operators WHERE id = $1", scope.operator_id)
    values = pack_values(form, currency)
    async with conn.transaction():
        try:
            pack_id = await conn.fetchval(
                "INSERT INTO data_topup_packs (operator_id, name, bytes, price_minor, currency)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                scope.operator_id, values["name"], values["bytes"], values["price_minor"], currency)
        except asyncpg.UniqueViolationError:
            raise ValidationError(_("A top-up pack with this name exists already: choose another name."),
                                  {"name": _("already used")}) from None
        await audit.record(conn, scope, "topup_pack.create", "topup_pack", pack_id, values, ip)
    return pack_id


async def set_pack_active(conn: asyncpg.Connection, scope: Scope, pack_id: int, active: bool,
                          ip: str | None = None) -> None:
    """Offer a pack again, or retire it (sold top-ups keep their own copy of name, size and price)."""
    async with conn.transaction():
        done = await conn.fetchval(
            "UPDATE data_topup_packs k SET active = $3 FROM operators o"
            " WHERE k.id = $1 AND o.id = k.operator_id AND o.path <@ $2::ltree RETURNING k.id",
            pack_id, scope.path, active)
        if done is None:
            raise NotFound(_("No such top-up pack."))
        await audit.record(conn, scope, "topup_pack.offer" if active else "topup_pack.retire", "topup_pack",
                           pack_id, {}, ip)


# ---- buying -----------------------------------------------------------------------------------------------

def _staff_scope(scope: Scope | CustomerScope, customer_id: int) -> Scope:
    """A portal customer buys only for themselves; their purchase is written as the system of their operator
    (call it in the system database scope, as the portal's pay page does)."""
    if isinstance(scope, CustomerScope):
        if scope.customer_id != customer_id:
            raise NotFound(_("Customer %(id)s was not found.", id=customer_id))
        return Scope.system(scope.operator_id, scope.path)
    return scope


@dataclass(frozen=True, slots=True)
class TopupQuote:
    """What buying a pack now would do: its price against the advance wallet, in the current data-cap window."""

    pack: asyncpg.Record
    wallet_minor: int
    window_start: datetime
    window_end: datetime

    @property
    def after_minor(self) -> int:
        return self.wallet_minor - self.pack["price_minor"]

    @property
    def short_minor(self) -> int:
        """How much more the wallet needs (0 when it is enough): the one rule of "can pay for it"."""
        return max(0, -self.after_minor)


async def _quote(conn: asyncpg.Connection, customer, pack_id: int) -> TopupQuote:
    pack = next((p for p in await packs_for_customer(conn, customer["id"]) if p["id"] == pack_id), None)
    if pack is None:
        raise NotFound(_("No such top-up pack."))
    policy = await conn.fetchrow(POLICY, customer["id"])
    if policy is None or policy["cap_window_end"] is None:
        raise ValidationError(_("This customer's package has no data cap, so a top-up would change nothing."),
                              {"pack_id": _("no data cap")})
    if pack["currency"] != customer["currency"]:
        raise ValidationError(_("This pack is priced in %(pack)s but the customer pays in %(customer)s.",
                                pack=pack["currency"], customer=customer["currency"]), {"pack_id": _("currency")})
    wallet = int(await conn.fetchval(WALLET, customer["id"], pack["currency"]))  # sum() of bigint is numeric
    return TopupQuote(pack, wallet, policy["cap_window_start"], policy["cap_window_end"])


async def quote_topup(conn: asyncpg.Connection, scope: Scope | CustomerScope, customer_id: int,
                      pack_id: int) -> TopupQuote:
    """The confirmation's figures (NotFound for a pack the customer may not buy, ValidationError without a cap)."""
    customer = await load_customer(conn, _staff_scope(scope, customer_id), customer_id)
    return await _quote(conn, customer, pack_id)


async def buy_topup(conn: asyncpg.Connection, scope: Scope | CustomerScope, customer_id: int, pack_id: int, *,
                    ip: str | None = None) -> asyncpg.Record:
    """Charge the pack to the customer's advance wallet and add its bytes to the current data-cap window.
    Refused (ValidationError, nothing written) without a data cap or without the money in the wallet."""
    staff = _staff_scope(scope, customer_id)
    async with conn.transaction():
        customer = await load_customer(conn, staff, customer_id, lock=True)
        quote = await _quote(conn, customer, pack_id)
        pack = quote.pack
        if quote.short_minor:
            raise ValidationError(
                _("The customer's advance balance is %(balance)s and this top-up costs %(price)s. Record a payment "
                  "first, then buy the top-up.", balance=money(quote.wallet_minor, pack["currency"]),
                  price=money(pack["price_minor"], pack["currency"])), {"pack_id": _("balance too low")})
        txn = await _charge(conn, staff, customer, pack)
        topup = await conn.fetchrow(
            "INSERT INTO data_topups (operator_id, customer_id, pack_id, name, bytes, price_minor, currency,"
            " window_start, window_end, txn_id, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " RETURNING *", customer["operator_id"], customer_id, pack_id, pack["name"], pack["bytes"],
            pack["price_minor"], pack["currency"], quote.window_start, quote.window_end, txn, staff.account_id)
        await audit.record(conn, staff, "customer.data_topup", "customer", customer_id,
                           {"pack": pack["name"], "bytes": pack["bytes"], "price_minor": pack["price_minor"],
                            "topup_id": topup["id"]}, ip, operator_id=customer["operator_id"])
        return topup


async def newest_topup_id(conn: asyncpg.Connection, customer_id: int) -> int:
    """The id of the customer's latest top-up (0 for none): a confirmation page carries it as its one-use token."""
    return await conn.fetchval("SELECT coalesce(max(id), 0) FROM data_topups WHERE customer_id = $1", customer_id)


async def buy_topup_once(conn: asyncpg.Connection, scope: Scope | CustomerScope, customer_id: int, pack_id: int,
                         seen_topup_id: int, *, ip: str | None = None) -> tuple[asyncpg.Record, bool]:
    """buy_topup for a confirmation page that saw `seen_topup_id` as the newest top-up. A second press of the same
    page (a double click, a reload) finds a newer top-up and buys nothing: (that top-up, False). The customer lock
    serialises two presses arriving together, so exactly one of them buys."""
    staff = _staff_scope(scope, customer_id)
    async with conn.transaction():
        await load_customer(conn, staff, customer_id, lock=True)
        newest = await newest_topup_id(conn, customer_id)
        if newest > seen_topup_id:
            return await conn.fetchrow("SELECT * FROM data_topups WHERE id = $1", newest), False
        if newest != seen_topup_id:  # a token no page of ours carried
            raise ValidationError(_("This page is out of date. Open the data top-up page again."),
                                  {"pack_id": _("out of date")})
        return await buy_topup(conn, scope, customer_id, pack_id, ip=ip), True


async def _charge(conn: asyncpg.Connection, scope: Scope, customer, pack):
    if pack["price_minor"] == 0:
        return None
    wallet = await account_id(conn, "customer_advance", customer["operator_id"], pack["currency"], customer["id"])
    revenue = await account_id(conn, "revenue", customer["operator_id"], pack["currency"])
    return await post(conn, [Entry(wallet, pack["price_minor"]), Entry(revenue, -pack["price_minor"])],
                      pack["currency"], "data_topup", memo=pack["name"], created_by=scope.account_id)


async def topups_in_window(conn: asyncpg.Connection, customer_id: int, window_end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM data_topups WHERE customer_id = $1 AND window_end = $2 ORDER BY id",
                            customer_id, window_end)


# ---- usage ------------------------------------------------------------------------------------------------

# Each session's octets spread over the local days it spans in proportion to time (radacct knows no more), as the
# policy view splits a session across a window boundary; an open session counts up to its last Interim.
DAILY_USAGE = """
WITH who AS (
    SELECT c.username, o.timezone AS tz FROM customers c JOIN operators o ON o.id = c.operator_id WHERE c.id = $1
), days AS (
    SELECT d::date AS day, d::timestamp AT TIME ZONE who.tz AS s, (d + interval '1 day')::timestamp AT TIME ZONE who.tz AS e
      FROM who, generate_series(($2::timestamptz AT TIME ZONE who.tz)::date,
                                (($3::timestamptz - interval '1 microsecond') AT TIME ZONE who.tz)::date,
                                interval '1 day') d
), r AS (
    SELECT coalesce(a.acctinputoctets, 0) + coalesce(a.acctoutputoctets, 0) AS octets, a.acctstarttime AS st,
           coalesce(a.acctstoptime, a.acctupdatetime, a.acctstarttime) AS en
      FROM radacct a, who
     WHERE a.username = who.username AND a.acctstarttime < $3
       AND coalesce(a.acctstoptime, a.acctupdatetime, a.acctstarttime) >= $2
)
-- a day's share is the difference of the cumulative shares at its two ends, so a session's days add up to it
SELECT days.day, coalesce(sum(CASE WHEN r.en <= r.st THEN r.octets
        ELSE floor(r.octets * extract(epoch FROM least(r.en, days.e) - r.st) / extract(epoch FROM r.en - r.st))
           - floor(r.octets * extract(epoch FROM greatest(r.st, days.s) - r.st) / extract(epoch FROM r.en - r.st))
        END), 0)::bigint AS bytes
  FROM days LEFT JOIN r ON r.st < days.e AND (r.en > days.s OR (r.en <= r.st AND r.st >= days.s))
 GROUP BY days.day ORDER BY days.day
"""


async def daily_usage(conn: asyncpg.Connection, customer_id: int,
                      window: tuple[datetime, datetime]) -> list[DayUsage]:
    """Bytes per local day (the operator's time zone) of [start, end); call after a scoped load of the customer."""
    start, end = window
    return [DayUsage(r["day"], r["bytes"]) for r in await conn.fetch(DAILY_USAGE, customer_id, start, end)]


async def usage_summary(conn: asyncpg.Connection, scope: Scope | CustomerScope, customer_id: int,
                        month_start: datetime, month_end: datetime) -> UsageSummary:
    """The current data-cap window of a customer (or, without a cap, [month_start, month_end)): per day, in
    total, and the tier it puts them in — the same rule the RADIUS module applies (radbill.policy.caps)."""
    await load_customer(conn, _staff_scope(scope, customer_id), customer_id)
    view = await conn.fetchrow(POLICY, customer_id)
    row = PolicyRow.from_view(view) if view is not None else None
    start = row.usage_since if row is not None and row.usage_since else month_start
    end = row.usage_resets_at if row is not None and row.usage_resets_at else month_end
    days = await daily_usage(conn, customer_id, (start, end))
    used = sum(d.bytes for d in days)
    tiers, topup = (row.tiers, row.topup_bytes) if row is not None else ((), 0)
    tier = tier_for(tiers, used, topup)
    return UsageSummary(start if tiers else month_start, end if tiers else month_end, used, topup, tiers, tier,
                        next_threshold(tiers, tier, topup), days)


def gigabytes(nbytes: int | None) -> str:
    """Bytes as the catalog writes GB (10^9), for labels."""
    return format_gigabytes(nbytes) or "0"
