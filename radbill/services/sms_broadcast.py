"""Broadcasts (recipients by customer filters, count and cost before sending, background send with progress),
the message history (SMS and WhatsApp), and the SMS balance: statement and top-ups by the parent operator."""

from __future__ import annotations

import json
from dataclasses import dataclass

import asyncpg

from radbill import clock, validate
from radbill.billing.money import check_amount, format_minor
from radbill.errors import NotFound, PermissionDenied, ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services import audit, business_reports
from radbill.services.sms import gateway_for, local_date, segment_price, shown_error
from radbill.sms import count_segments, render, validate_template
from radbill.tenancy import Scope

BROADCAST_PLACEHOLDERS = {"customer_name": "the customer's name", "username": "the username",
                          "package": "the package name", "expiry": "the expiry date", "isp_name": "your business name"}
STATUSES = ("active", "suspended", "disabled")
CONNECTION_TYPES = ("pppoe", "hotspot", "static", "other")
MESSAGE_STATUSES = ("queued", "sent", "delivered", "failed")
HISTORY_STATUSES = (*MESSAGE_STATUSES[:3], "read", "failed")  # read: WhatsApp messages only
HISTORY_CHANNELS = ("sms", "whatsapp")  # sms_messages.channel: how each message in the history went
# sms_messages.event values besides the customer events (radbill.sms.EVENTS): the history's "kind" filter offers both
OTHER_KINDS = {"broadcast": lazy_gettext("Broadcast"), "test": lazy_gettext("Test message")}
HISTORY_PAGE = 100


@dataclass(frozen=True)
class Filters:
    """Which customers a broadcast goes to (the customer list's filters); all optional."""

    status: str | None = None
    connection_type: str | None = None
    package_id: int | None = None
    zone_id: int | None = None
    billing_profile_id: int | None = None
    operator_id: int | None = None
    # the dues report's list: customers with dues past due ("all" or an aging bucket), in operator_id's subtree
    dues: str | None = None
    customer_id: int | None = None  # one customer (the API's send to a customer)

    @classmethod
    def from_form(cls, form) -> Filters:
        def number(key):
            raw = str(form.get(key) or "").strip()
            return validate.optional_id(raw)
        status = str(form.get("status") or "") or None
        kind = str(form.get("connection_type") or "") or None
        dues = str(form.get("dues") or "") or None
        return cls(status if status in STATUSES else None, kind if kind in CONNECTION_TYPES else None,
                   number("package_id"), number("zone_id"), number("billing_profile_id"), number("operator_id"),
                   dues if dues in ("all", *business_reports.BUCKETS) else None)


@dataclass(frozen=True)
class BroadcastPlan:
    recipients: int
    segments: int
    cost_minor: int
    balance_minor: int
    currency: str
    sample: str
    sample_segments: object

    @property
    def affordable(self) -> bool:
        return self.cost_minor <= self.balance_minor

    @property
    def segment_price_minor(self) -> int:
        return self.cost_minor // self.segments if self.segments else 0


# one customer per mobile number (two accounts on one phone get one SMS); fixed SQL, every filter bound
RECIPIENTS = """
    SELECT DISTINCT ON (c.mobile) c.id, c.name, c.username, c.mobile, c.expires_at, p.name AS package, o.timezone,
           coalesce(isp.business_name, o.name) AS isp_name
      FROM customers c JOIN operators o ON o.id = c.operator_id JOIN packages p ON p.id = c.package_id
      LEFT JOIN LATERAL (SELECT a.business_name FROM radbill_line(o.id) l JOIN operators a ON a.id = l.operator_id
                          WHERE coalesce(btrim(a.business_name), '') <> ''
                          ORDER BY l.distance LIMIT 1) isp ON true
     WHERE o.path <@ $1::ltree AND c.mobile IS NOT NULL
       AND ($2::text IS NULL OR c.status = $2) AND ($3::text IS NULL OR c.connection_type = $3)
       AND ($4::bigint IS NULL OR c.package_id = $4) AND ($5::bigint IS NULL OR c.zone_id = $5)
       AND ($6::bigint IS NULL OR c.billing_profile_id = $6) AND ($7::bigint IS NULL OR c.operator_id = $7)
       AND ($8::bigint[] IS NULL OR c.id = ANY ($8::bigint[]))
     ORDER BY c.mobile, c.id
"""


async def recipients(conn: asyncpg.Connection, scope: Scope, filters: Filters) -> list[asyncpg.Record]:
    only, operator_id = None, filters.operator_id
    if filters.dues:  # exactly the dues report's list (its operator filter is a subtree, as in every report)
        only = await business_reports.dues_customer_ids(conn, scope, filters.dues, filters.zone_id, operator_id,
                                                       clock.now())
        operator_id = None
    if filters.customer_id is not None:
        only = [filters.customer_id] if only is None else [i for i in only if i == filters.customer_id]
    return await conn.fetch(RECIPIENTS, scope.path, filters.status, filters.connection_type, filters.package_id,
                            filters.zone_id, filters.billing_profile_id, operator_id, only)


def _texts(body: str, rows) -> list[str]:
    return [render(body, {"customer_name": r["name"], "username": r["username"], "package": r["package"],
                          "expiry": local_date(r["expires_at"], r["timezone"]), "isp_name": r["isp_name"]})
            for r in rows]


async def _sender(conn, scope: Scope) -> asyncpg.Record:
    return await conn.fetchrow("SELECT id, kind, sms_balance, sms_segment_price_minor, currency FROM operators"
                               " WHERE id = $1", scope.operator_id)


async def preview_broadcast(conn: asyncpg.Connection, scope: Scope, body: str, filters: Filters) -> BroadcastPlan:
    """How many customers, segments and how much a broadcast would cost, with a sample text; sends nothing."""
    body = validate_template(body, BROADCAST_PLACEHOLDERS)
    rows = await recipients(conn, scope, filters)
    texts = _texts(body, rows)
    sender = await _sender(conn, scope)
    price = segment_price(sender["kind"], sender["sms_segment_price_minor"])
    segments = sum(count_segments(t).count for t in texts)
    sample = texts[0] if texts else body
    return BroadcastPlan(len(rows), segments, segments * price, sender["sms_balance"], sender["currency"], sample,
                         count_segments(sample))


async def start_broadcast(conn: asyncpg.Connection, scope: Scope, body: str, filters: Filters,
                          ip: str | None = None) -> int:
    """Queue one message per recipient (set-based) for the outbox to send; refuses when there is no gateway
    or the balance cannot cover the whole broadcast. Returns the broadcast id."""
    body = validate_template(body, BROADCAST_PLACEHOLDERS)
    async with conn.transaction():
        sender = await _sender(conn, scope)
        gateway = await gateway_for(conn, scope.operator_id)
        if gateway is None:
            raise ValidationError(_("No SMS gateway is configured: ask your operator to add one under SMS → Gateways."))
        rows = await recipients(conn, scope, filters)
        if not rows:
            raise ValidationError(_("No customer with a mobile number matches these filters."))
        texts = _texts(body, rows)
        segments = [count_segments(t).count for t in texts]
        price = segment_price(sender["kind"], sender["sms_segment_price_minor"])
        cost = sum(segments) * price
        if cost > sender["sms_balance"]:
            raise ValidationError(_(
                "This broadcast costs %(cost)s and your SMS balance is %(balance)s: ask your parent operator for a "
                "top-up, or narrow the recipients.", cost=format_minor(cost, sender["currency"]),
                balance=format_minor(sender["sms_balance"], sender["currency"])), {"balance": "insufficient"})
        broadcast_id = await conn.fetchval(
            "INSERT INTO sms_broadcasts (operator_id, created_by, body, filters, recipients, segments, cost_minor)"
            " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7) RETURNING id", scope.operator_id, scope.account_id, body,
            json.dumps(filters.__dict__), len(rows), sum(segments), cost)
        await conn.execute(
            "INSERT INTO sms_messages (operator_id, customer_id, gateway_id, to_number, body, segments, event,"
            "                          broadcast_id, cost_minor)"
            " SELECT $1, t.customer_id, $2, t.mobile, t.body, t.segments, 'broadcast', $3, t.segments * $4"
            "   FROM unnest($5::bigint[], $6::text[], $7::text[], $8::int[]) AS t(customer_id, mobile, body, segments)",
            scope.operator_id, gateway["id"], broadcast_id, price, [r["id"] for r in rows],
            [r["mobile"] for r in rows], texts, segments)
        await conn.execute(
            "SELECT count(radbill_enqueue('sms', $2, jsonb_build_object('message_id', m.id, 'broadcast_id', $1::bigint),"
            "                             'sms:message:' || m.id))"
            "  FROM (SELECT id FROM sms_messages WHERE broadcast_id = $1 ORDER BY id) m", broadcast_id, scope.operator_id)
        await audit.record(conn, scope, "sms.broadcast", "sms_broadcast", broadcast_id,
                           {"recipients": len(rows), "segments": sum(segments), "cost_minor": cost,
                            "filters": filters.__dict__}, ip)
    return broadcast_id


async def send_to_customer(conn: asyncpg.Connection, scope: Scope, customer_id: int, body: str,
                           ip: str | None = None) -> int:
    """One message to one customer, through the broadcast's send path (balance check, one message row, the
    outbox): NotFound for a customer outside the scope. Returns the broadcast id (a broadcast of one)."""
    customer = await conn.fetchrow("SELECT c.mobile FROM customers c JOIN operators o ON o.id = c.operator_id"
                                   " WHERE c.id = $1 AND o.path <@ $2::ltree", customer_id, scope.path)
    if customer is None:
        raise NotFound(_("Customer %(id)s was not found.", id=customer_id))
    if not customer["mobile"]:
        raise ValidationError(_("This customer has no mobile number: add one to the customer first."),
                              {"customer_id": _("no mobile number")})
    return await start_broadcast(conn, scope, body, Filters(customer_id=customer_id), ip)


async def broadcast_progress(conn: asyncpg.Connection, scope: Scope, broadcast_id: int) -> dict:
    """The broadcast and its messages counted by status; NotFound outside the scope."""
    row = await conn.fetchrow("SELECT b.* FROM sms_broadcasts b JOIN operators o ON o.id = b.operator_id"
                              " WHERE b.id = $1 AND o.path <@ $2::ltree", broadcast_id, scope.path)
    if row is None:
        raise NotFound("broadcast not found")
    counts = dict.fromkeys(MESSAGE_STATUSES, 0)
    for r in await conn.fetch("SELECT status, count(*) AS n FROM sms_messages WHERE broadcast_id = $1"
                              " GROUP BY status", broadcast_id):
        counts[r["status"]] = r["n"]
    done = counts["sent"] + counts["delivered"] + counts["failed"]
    return {"broadcast": row, "counts": counts, "done": done,
            "percent": int(100 * done / row["recipients"]) if row["recipients"] else 100}


async def recent_broadcasts(conn: asyncpg.Connection, scope: Scope, limit: int = 20) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT b.*, (SELECT count(*) FROM sms_messages m WHERE m.broadcast_id = b.id AND m.status <> 'queued')"
        "         AS done FROM sms_broadcasts b JOIN operators o ON o.id = b.operator_id"
        " WHERE o.path <@ $1::ltree ORDER BY b.id DESC LIMIT $2", scope.path, limit)


async def history(conn: asyncpg.Connection, scope: Scope, status: str | None = None, event: str | None = None,
                  mobile: str | None = None, broadcast_id: int | None = None, page: int = 1,
                  channel: str | None = None) -> tuple[list[dict], bool]:
    """One page of messages (SMS and WhatsApp) in scope, newest first; (rows, has_more)."""
    number = None
    if mobile:
        try:
            number = validate.mobile(mobile)
        except ValueError as exc:
            raise ValidationError(str(exc), {"mobile": str(exc)}) from None
    rows = await conn.fetch(
        "SELECT m.id, m.created_at, m.sent_at, m.delivered_at, m.to_number, m.body, m.segments, m.event, m.status,"
        "       m.error, m.cost_minor, m.broadcast_id, m.channel, m.read_at, m.fallback_of, c.username,"
        "       o.name AS operator_name, o.currency"
        "  FROM sms_messages m JOIN operators o ON o.id = m.operator_id LEFT JOIN customers c ON c.id = m.customer_id"
        " WHERE o.path <@ $1::ltree AND ($2::text IS NULL OR m.status = $2) AND ($3::text IS NULL OR m.event = $3)"
        "   AND ($4::text IS NULL OR m.to_number = $4) AND ($5::bigint IS NULL OR m.broadcast_id = $5)"
        "   AND ($8::text IS NULL OR m.channel = $8)"
        " ORDER BY m.id DESC LIMIT $6 OFFSET $7",
        scope.path, status if status in HISTORY_STATUSES else None, event or None, number, broadcast_id,
        HISTORY_PAGE + 1, (max(page, 1) - 1) * HISTORY_PAGE, channel if channel in HISTORY_CHANNELS else None)
    shown = [{**dict(r), "error": shown_error(r["error"])} for r in rows[:HISTORY_PAGE]]  # stored English, shown
    return shown, len(rows) > HISTORY_PAGE


# --- balance ----------------------------------------------------------------------------------------------

async def balance_overview(conn: asyncpg.Connection, scope: Scope, limit: int = 100) -> dict:
    """The caller's SMS balance, price, statement (newest first), recent failures for lack of balance, and
    the operators it tops up (its direct children)."""
    me = await conn.fetchrow("SELECT id, name, kind, sms_balance, sms_segment_price_minor, currency FROM operators"
                             " WHERE id = $1", scope.operator_id)
    # who made an entry: our own staff by login name; the parent operator's staff only by role (their login
    # names are the parent's business, and a login name is half a credential). Only we and those above us can
    # write our entries, and row-level security hides the accounts above us: an author we cannot see is the parent.
    statement = await conn.fetch(
        "SELECT e.*, CASE WHEN a.operator_id = e.operator_id THEN a.username END AS by_username,"
        "       e.created_by IS NOT NULL AND a.operator_id IS DISTINCT FROM e.operator_id AS by_parent"
        "  FROM sms_balance_entries e LEFT JOIN accounts a ON a.id = e.created_by"
        " WHERE e.operator_id = $1 ORDER BY e.id DESC LIMIT $2", scope.operator_id, limit)
    starved = await conn.fetchval(
        "SELECT count(*) FROM sms_messages WHERE operator_id = $1 AND status = 'failed'"
        " AND error LIKE 'SMS balance exhausted%' AND created_at > now() - interval '30 days'", scope.operator_id)
    children = await conn.fetch(
        "SELECT id, name, kind, sms_balance, sms_segment_price_minor, currency FROM operators"
        " WHERE parent_id = $1 ORDER BY name", scope.operator_id) if scope.role in ("group_admin", "operator") else []
    return {"me": me, "statement": statement, "starved": starved, "children": children,
            "price_minor": segment_price(me["kind"], me["sms_segment_price_minor"])}


async def top_up(conn: asyncpg.Connection, scope: Scope, operator_id: int, amount_minor: int,
                 price_minor: int | None = None, memo: str | None = None, ip: str | None = None) -> int:
    """The parent operator adds SMS credit to a direct child (and may set its per-segment price); returns the
    child's new balance. Anyone else: NotFound (a foreign operator looks missing)."""
    if scope.role not in ("group_admin", "operator"):
        raise PermissionDenied(_("Only the parent operator tops up SMS balances."))
    if amount_minor <= 0 and price_minor is None:
        raise ValidationError(_("Enter an amount above zero."), {"amount": _("must be positive")})
    async with conn.transaction():
        child = await conn.fetchrow("SELECT id, sms_balance, currency FROM operators WHERE id = $1 AND parent_id = $2"
                                    " FOR NO KEY UPDATE", operator_id, scope.operator_id)
        if child is None:
            raise NotFound("operator not found")
        check_amount(amount_minor, child["currency"], allow_zero=True)
        if price_minor is not None:
            check_amount(price_minor, child["currency"], "price", allow_zero=True)
        balance = child["sms_balance"]
        if amount_minor > 0:
            balance = await conn.fetchval("UPDATE operators SET sms_balance = sms_balance + $2 WHERE id = $1"
                                          " RETURNING sms_balance", operator_id, amount_minor)
            await conn.execute("INSERT INTO sms_balance_entries (operator_id, kind, amount_minor, balance_after,"
                               " created_by, memo) VALUES ($1, 'topup', $2, $3, $4, $5)",
                               operator_id, amount_minor, balance, scope.account_id, memo)
        if price_minor is not None:
            await conn.execute("UPDATE operators SET sms_segment_price_minor = $2 WHERE id = $1", operator_id,
                               price_minor)
        await audit.record(conn, scope, "sms.topup", "operator", operator_id,
                           {"amount_minor": amount_minor, "price_minor": price_minor, "balance": balance}, ip)
    return balance


async def filter_options(conn: asyncpg.Connection, scope: Scope) -> dict:
    """The packages and zones the subtree's customers actually use (the broadcast recipient filters)."""
    packages = await conn.fetch("SELECT DISTINCT p.id, p.name FROM customers c JOIN packages p ON p.id = c.package_id"
                                " JOIN operators o ON o.id = c.operator_id WHERE o.path <@ $1::ltree ORDER BY p.name",
                                scope.path)
    zones = await conn.fetch("SELECT DISTINCT z.id, z.name FROM customers c JOIN zones z ON z.id = c.zone_id"
                             " JOIN operators o ON o.id = c.operator_id WHERE o.path <@ $1::ltree ORDER BY z.name",
                             scope.path)
    return {"packages": packages, "zones": zones}
