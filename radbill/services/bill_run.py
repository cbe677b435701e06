"""The scheduled bill run at scale: the customers in batches, each batch its own transaction, two connections.

`billing.generate_bills` bills whatever it is given in one transaction. At 1,000,000 customers that transaction's
statements run for minutes on one core (bench/README.md, "make bench-billing"), longer than the pool's command
timeout, and a failure anywhere rolls the whole run back. Here the billable customers are cut into contiguous id
batches of BATCH (a reseller's wallet holders kept together); WORKERS connections take batches in turn, each batch through `generate_bills` (the one bill run:
same statements, same rows) in its own transaction.

Crash-safe and idempotent as before: a batch commits its bills with their ledger entries, advance debits and SMS,
or nothing; a batch that failed or never ran is billed by the next run, and the bills' unique (customer, period)
index lets nobody be billed twice, whichever batches committed.

Two batches share only operator-level rows. The revenue and VAT accounts of the operators are created first, in a
transaction of their own, so that one batch's INSERT of a shared account never waits for another batch's commit
(they exist after an operator's first run anyway; an operator whose every bill is free of charge gets them too,
empty). Reseller wholesale debits lock their operators in id order
(billing.apply_advance), so two batches cannot deadlock on them.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from radbill.services.billing import _FILTER, generate_bills

WORKERS = 2  # the box's cores: more connections than cores only queue on them
BATCH = 100_000  # customers per transaction: each statement stays well inside the pool's 60 s command timeout

# A reseller's customers who hold an advance wallet go in one batch: apply_advance debits a reseller once per run
# for the periods its customers' wallets paid, or (credit exhausted) draws on none of those wallets; cut apart, the
# batches would decide and post that piece by piece. Customers without a wallet draw nothing and go anywhere.
_BILLABLE_SQL = f"""
SELECT c.id, CASE WHEN o.kind = 'sub_operator' AND w.customer_id IS NOT NULL THEN o.id END AS reseller
  FROM customers c
  JOIN operators o ON o.id = c.operator_id
  JOIN billing_profiles bp ON bp.id = c.billing_profile_id
  LEFT JOIN (SELECT DISTINCT customer_id FROM ledger_accounts WHERE kind = 'customer_advance') w
         ON w.customer_id = c.id
 WHERE {_FILTER}
 ORDER BY c.id
"""  # noqa: S608 -- fixed fragments of billing.py only

# the operator-level accounts the bills post to (billing._ACCOUNTS_SQL creates them too, for the bills it posts)
_OPERATOR_ACCOUNTS_SQL = f"""
INSERT INTO ledger_accounts (kind, operator_id, currency)
SELECT DISTINCT l.kind, c.operator_id, o.currency
  FROM customers c
  JOIN operators o ON o.id = c.operator_id
  JOIN billing_profiles bp ON bp.id = c.billing_profile_id
 CROSS JOIN (VALUES ('revenue'), ('vat_payable')) l(kind)
 WHERE {_FILTER}
 ORDER BY 1, 2
    ON CONFLICT DO NOTHING
"""  # noqa: S608 -- fixed fragments of billing.py only


def batches(rows: list, size: int) -> list[list[int]]:
    """The customers (id order) in batches of at most `size`: contiguous id slices, except that each reseller's
    wallet holders stay together (several resellers share a batch; one with more than `size` is one batch)."""
    direct = [r["id"] for r in rows if r["reseller"] is None]
    out = [direct[i:i + size] for i in range(0, len(direct), size)]
    resellers: dict[int, list[int]] = {}
    for r in rows:
        if r["reseller"] is not None:
            resellers.setdefault(r["reseller"], []).append(r["id"])
    packed: list[int] = []
    for ids in resellers.values():
        if packed and len(packed) + len(ids) > size:
            out.append(packed)
            packed = []
        packed = packed + ids
    return out + ([packed] if packed else [])


async def generate_bills_in_batches(pool: asyncpg.Pool, now: datetime, workers: int = WORKERS,
                                    batch: int = BATCH) -> int:
    """Bill every customer due at `now`, batch by batch over `workers` connections; returns the bills created.
    Every batch is tried; if any failed, the first error is raised after the others finished (their bills stay)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(_BILLABLE_SQL, None, None)
        if not rows:
            return 0
        await conn.execute(_OPERATOR_ACCOUNTS_SQL, None, None)
    queue = batches(rows, batch)
    queue.reverse()  # pop() takes them in id order

    async def worker() -> tuple[int, list[BaseException]]:
        created, errors = 0, []
        async with pool.acquire() as conn:
            while queue:
                customer_ids = queue.pop()
                try:
                    created += await generate_bills(conn, now, customer_ids=customer_ids)
                except (TimeoutError, asyncpg.PostgresError, OSError) as exc:
                    errors.append(exc)  # this batch rolled back; the next run bills it
        return created, errors

    done = await asyncio.gather(*(worker() for _ in range(min(workers, len(queue)))))
    errors = [e for _, found in done for e in found]
    if errors:
        raise errors[0]
    return sum(created for created, _ in done)
