"""Cash close: what each collector took in on a day (by method), what they handed over, and the difference.

Rules (README "Corrections"):
- A day is the collector's operator's calendar day (its time zone). "Collected" is the payments the collector
  recorded that day, less what has been reversed of them: a bounced cheque is not cash in hand.
- Cash in hand (what should be handed over) is the cash and advance-deposit methods; bank, mobile wallet and
  gateway payments are listed but never pass through the collector's hands.
- Closing stores the figures as they stood, the amount handed over (entered by the closer) and the difference;
  a closed day never changes (the table is append-only for the app). Anything that changes that day's figures
  later — a reversal, a payment recorded after the close — shows as an adjustment line: live minus closed.
- Who: a manager sees only their own collections and cannot close (the money is counted by someone else);
  operators, sub-operators and the group admin see and close every collector in their subtree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from radbill import clock
from radbill.billing.money import check_amount
from radbill.errors import NotFound, PermissionDenied, ValidationError
from radbill.i18n import _
from radbill.services import audit
from radbill.tenancy import Scope

IN_HAND = ("cash", "advance")
CLOSERS = frozenset({"group_admin", "operator", "sub_operator"})

# payments one collector recorded on one local day of its operator, per method, net of reversals
_FIGURES_SQL = """
SELECT p.method, count(*) AS count, sum(p.amount_minor)::bigint AS amount_minor,
       sum(p.reversed_minor)::bigint AS reversed_minor
  FROM payments p
 WHERE p.collected_by = $1 AND p.currency = $3
   AND p.received_at >= ($2::date::timestamp AT TIME ZONE $4)
   AND p.received_at < (($2::date + 1)::timestamp AT TIME ZONE $4)
 GROUP BY p.method ORDER BY p.method
"""


@dataclass(frozen=True, slots=True)
class Line:
    method: str
    count: int
    amount_minor: int
    reversed_minor: int

    @property
    def net_minor(self) -> int:
        return self.amount_minor - self.reversed_minor


@dataclass(frozen=True, slots=True)
class DayClose:
    """One collector's day: the live figures, and the close if there is one (its stored figures never change)."""

    collector: asyncpg.Record
    day: date
    currency: str
    timezone: str
    live: tuple[Line, ...]
    closed: asyncpg.Record | None = None

    @property
    def closed_lines(self) -> tuple[Line, ...]:
        if self.closed is None:
            return ()
        figures = json.loads(self.closed["figures"]) if isinstance(self.closed["figures"], str) \
            else self.closed["figures"]
        return tuple(Line(m, v["count"], v["amount_minor"], v["reversed_minor"]) for m, v in sorted(figures.items()))

    @property
    def expected_minor(self) -> int:
        """Cash in hand by the live figures (for an open day, what should be handed over)."""
        return sum(line.net_minor for line in self.live if line.method in IN_HAND)

    @property
    def adjustments(self) -> tuple[tuple[str, int], ...]:
        """(method, live net − closed net) for each method whose figure changed after the close."""
        if self.closed is None:
            return ()
        closed = {line.method: line.net_minor for line in self.closed_lines}
        live = {line.method: line.net_minor for line in self.live}
        return tuple((m, live.get(m, 0) - closed.get(m, 0)) for m in sorted(set(closed) | set(live))
                     if live.get(m, 0) != closed.get(m, 0))


async def collector_in_scope(conn: asyncpg.Connection, scope: Scope, collector_id: int) -> asyncpg.Record:
    """A login whose collections the scope may see: a manager only itself; others anyone in their subtree."""
    if scope.role == "manager" and collector_id != scope.account_id:
        raise NotFound(_("Collector %(id)s was not found.", id=collector_id))
    row = await conn.fetchrow(
        "SELECT a.id, a.username, a.full_name, a.role, a.operator_id, o.name AS operator_name, o.timezone,"
        "       o.currency FROM accounts a JOIN operators o ON o.id = a.operator_id"
        " WHERE a.id = $1 AND o.path <@ $2::ltree", collector_id, scope.path)
    if row is None:
        raise NotFound(_("Collector %(id)s was not found.", id=collector_id))
    return row


async def _live(conn, collector, day: date) -> tuple[Line, ...]:
    rows = await conn.fetch(_FIGURES_SQL, collector["id"], day, collector["currency"], collector["timezone"])
    return tuple(Line(r["method"], r["count"], r["amount_minor"], r["reversed_minor"]) for r in rows)


async def day_close(conn: asyncpg.Connection, scope: Scope, collector_id: int, day: date) -> DayClose:
    """One collector's day as it stands, with its close (if closed)."""
    collector = await collector_in_scope(conn, scope, collector_id)
    closed = await conn.fetchrow(
        "SELECT k.*, a.username AS closed_by_username FROM cash_closes k LEFT JOIN accounts a ON a.id = k.closed_by"
        " WHERE k.collector_id = $1 AND k.day = $2 AND k.currency = $3", collector_id, day, collector["currency"])
    return DayClose(collector, day, collector["currency"], collector["timezone"], await _live(conn, collector, day),
                    closed)


async def close_day(conn: asyncpg.Connection, scope: Scope, collector_id: int, day: date, handed_over_minor: int,
                    note: str | None = None, *, now: datetime | None = None) -> DayClose:
    """Close a collector's day with what was handed over; a day closes once (the second is refused)."""
    if scope.role not in CLOSERS:
        raise PermissionDenied(_("Only an operator closes a collector's cash: ask your operator."))
    now = now or clock.now()
    note = (note or "").strip() or None
    if note and len(note) > 500:
        raise ValidationError(_("Keep the note under 500 characters."), {"note": _("too long")})
    async with conn.transaction():
        current = await day_close(conn, scope, collector_id, day)
        check_amount(handed_over_minor, current.currency, "handed_over", allow_zero=True)
        today = now.astimezone(ZoneInfo(current.timezone)).date()
        if day > today:
            raise ValidationError(_("%(day)s has not ended yet: close a day that has begun.", day=day),
                                  {"day": _("in the future")})
        figures = {line.method: {"count": line.count, "amount_minor": line.amount_minor,
                                 "reversed_minor": line.reversed_minor} for line in current.live}
        close_id = await conn.fetchval(
            "INSERT INTO cash_closes (operator_id, collector_id, day, currency, figures, expected_minor,"
            " handed_over_minor, note, closed_by, closed_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10)"
            " ON CONFLICT (collector_id, day, currency) DO NOTHING RETURNING id",
            current.collector["operator_id"], collector_id, day, current.currency, json.dumps(figures),
            current.expected_minor, handed_over_minor, note, scope.account_id, now)
        if close_id is None:
            raise ValidationError(_("This day is already closed; a later correction shows as an adjustment."),
                                  {"day": _("already closed")})
        await audit.record(conn, scope, "cash_close", "account", collector_id,
                           {"day": day.isoformat(), "expected_minor": current.expected_minor,
                            "handed_over_minor": handed_over_minor,
                            "difference_minor": handed_over_minor - current.expected_minor},
                           operator_id=current.collector["operator_id"])
    return await day_close(conn, scope, collector_id, day)


_DAY_LIST_SQL = """
SELECT a.id, a.username, a.full_name, o.name AS operator_name, o.currency,
       coalesce(sum(p.amount_minor - p.reversed_minor), 0)::bigint AS net_minor,
       coalesce(sum(p.amount_minor - p.reversed_minor) FILTER (WHERE p.method = ANY($4::text[])), 0)::bigint
           AS in_hand_minor,
       count(p.id) AS payments, k.id AS close_id, k.handed_over_minor, k.expected_minor
  FROM accounts a JOIN operators o ON o.id = a.operator_id
  LEFT JOIN payments p ON p.collected_by = a.id AND p.currency = o.currency
        AND p.received_at >= ($2::date::timestamp AT TIME ZONE o.timezone)
        AND p.received_at < (($2::date + 1)::timestamp AT TIME ZONE o.timezone)
  LEFT JOIN cash_closes k ON k.collector_id = a.id AND k.day = $2 AND k.currency = o.currency
 WHERE o.path <@ $1::ltree AND ($3::bigint IS NULL OR a.id = $3)
 GROUP BY a.id, o.id, k.id
HAVING count(p.id) > 0 OR k.id IS NOT NULL
 ORDER BY o.path, a.username
"""


async def day_list(conn: asyncpg.Connection, scope: Scope, day: date) -> list[asyncpg.Record]:
    """Every collector the scope may see who collected (or was closed) on `day`: net, cash in hand, close."""
    only = scope.account_id if scope.role == "manager" else None
    return await conn.fetch(_DAY_LIST_SQL, scope.path, day, only, list(IN_HAND))
