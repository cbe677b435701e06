"""The daily settlement report per gateway account: what each merchant account should pay out per local day.

Per day (in the caller's time zone) and gateway: payments credited through it (count, gross), the gateway's fee
(fee_basis_points of each payment, rounded half up per payment, as gateways charge per transaction), refunds
finished that day, and net = gross - fees - refunds. Only accounts owned inside the caller's subtree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg

from radbill import clock
from radbill.billing.money import exponent, whole_minor
from radbill.billing.periods import local_date, local_midnight_utc
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.spreadsheet import neutralise
from radbill.tenancy import Scope

DEFAULT_DAYS = 31
MAX_DAYS = 366

REPORT_SQL = """
WITH g AS (
    SELECT g.id, g.label, g.kind FROM payment_gateways g JOIN operators o ON o.id = g.operator_id
     WHERE o.path <@ $1::ltree
), paid AS (
    SELECT i.gateway_id, (p.received_at AT TIME ZONE $4)::date AS day, p.currency, count(*) AS payments,
           sum(p.amount_minor) AS gross_minor,
           -- per payment, half up (integer division of non-negative values)
           sum((p.amount_minor * pg.fee_basis_points + 5000) / 10000) AS fee_minor
      FROM payment_intents i JOIN payments p ON p.id = i.payment_id
      JOIN payment_gateways pg ON pg.id = i.gateway_id
     WHERE i.status = 'paid' AND i.gateway_id IN (SELECT id FROM g)
       AND p.received_at >= $2 AND p.received_at < $3
     GROUP BY 1, 2, 3
), refunded AS (
    SELECT i.gateway_id, (r.finished_at AT TIME ZONE $4)::date AS day, i.currency, count(*) AS refunds,
           sum(r.amount_minor) AS refund_minor
      FROM payment_refunds r JOIN payment_intents i ON i.id = r.intent_id
     WHERE r.status = 'done' AND i.gateway_id IN (SELECT id FROM g)
       AND r.finished_at >= $2 AND r.finished_at < $3
     GROUP BY 1, 2, 3
)
SELECT coalesce(paid.day, refunded.day) AS day, g.id AS gateway_id, g.label, g.kind,
       coalesce(paid.currency, refunded.currency) AS currency,
       coalesce(paid.payments, 0) AS payments, coalesce(paid.gross_minor, 0) AS gross_minor,
       coalesce(paid.fee_minor, 0) AS fee_minor, coalesce(refunded.refunds, 0) AS refunds,
       coalesce(refunded.refund_minor, 0) AS refund_minor
  FROM paid FULL JOIN refunded
    ON refunded.gateway_id = paid.gateway_id AND refunded.day = paid.day AND refunded.currency = paid.currency
  JOIN g ON g.id = coalesce(paid.gateway_id, refunded.gateway_id)
 ORDER BY day DESC, g.label, currency
"""


@dataclass(frozen=True)
class SettlementFilters:
    """Local calendar days in `timezone`, both ends included."""

    date_from: date
    date_to: date
    timezone: str

    @classmethod
    def from_query(cls, query: Mapping, timezone: str) -> SettlementFilters:
        today = local_date(clock.now(), timezone)
        start = _day(query.get("from"), "from") or today - timedelta(days=DEFAULT_DAYS - 1)
        end = _day(query.get("to"), "to") or today
        if end < start:
            raise ValidationError(_("The 'to' date is before the 'from' date."), {"to": "before from"})
        if (end - start).days >= MAX_DAYS:
            raise ValidationError(_("Choose at most a year at a time."), {"from": "too long"})
        return cls(start, end, timezone)


def _day(text, label: str) -> date | None:
    text = str(text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(_("Write the %(label)s date as YYYY-MM-DD.", label=label), {label: "not a date"}) from None


@dataclass(frozen=True)
class SettlementRow:
    day: date
    gateway_id: int
    label: str
    kind: str
    currency: str
    payments: int
    gross_minor: int
    fee_minor: int
    refunds: int
    refund_minor: int

    @property
    def net_minor(self) -> int:
        return self.gross_minor - self.fee_minor - self.refund_minor


async def daily_settlement(conn: asyncpg.Connection, scope: Scope, filters: SettlementFilters) -> list[SettlementRow]:
    """Rows per day and gateway (newest day first)."""
    start = local_midnight_utc(filters.date_from, filters.timezone)
    end = local_midnight_utc(filters.date_to + timedelta(days=1), filters.timezone)
    rows = await conn.fetch(REPORT_SQL, scope.path, start, end, filters.timezone)
    return [SettlementRow(r["day"], r["gateway_id"], r["label"], r["kind"], r["currency"].strip(), r["payments"],
                          whole_minor(r["gross_minor"]), whole_minor(r["fee_minor"]), r["refunds"],
                          whole_minor(r["refund_minor"])) for r in rows]


def totals(rows: list[SettlementRow]) -> dict[str, dict[str, int]]:
    """Per currency: the sums of every money column and count."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        t = out.setdefault(r.currency, dict.fromkeys(("payments", "gross_minor", "fee_minor", "refunds",
                                                      "refund_minor", "net_minor"), 0))
        for key in t:
            t[key] += getattr(r, key)
    return out


COLUMNS = ("day", "gateway", "currency", "payments", "gross", "fees", "refunds", "refunded", "net")


def _major(amount_minor: int, currency: str):
    """An amount as a number a spreadsheet sums (exact: a Decimal built from the integer)."""
    from decimal import Decimal

    return Decimal(amount_minor).scaleb(-exponent(currency))


def _lines(rows: list[SettlementRow]) -> list[list]:
    return [[r.day.isoformat(), neutralise(r.label), r.currency, r.payments, _major(r.gross_minor, r.currency),
             _major(r.fee_minor, r.currency), r.refunds, _major(r.refund_minor, r.currency),
             _major(r.net_minor, r.currency)] for r in rows]


def to_csv(rows: list[SettlementRow]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(_lines(rows))
    return ("\ufeff" + buffer.getvalue()).encode()


def to_xlsx(rows: list[SettlementRow]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Settlement"
    sheet.append(list(COLUMNS))
    for line in _lines(rows):
        sheet.append(line)
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever openpyxl guesses
            elif cell.column in (5, 6, 8, 9):
                cell.number_format = "#,##0.00"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
