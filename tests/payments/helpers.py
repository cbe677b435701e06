"""Builders for online-payment tests: an ISP (group admin -> operator -> sub-operator) whose operator has a bKash
gateway with sealed credentials, a suspended customer of the sub-operator with an unpaid bill."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from radbill import secretbox
from radbill.payments.registry import credentials_context
from radbill.services import billing
from tests import factories as f
from tests.billing.helpers import customer, isp

NOW = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)


async def add_gateway(conn, operator_id: int, base_url: str, credentials: dict, kind: str = "bkash",
                      label: str | None = None):
    row = await f.insert(conn, "payment_gateways", {"operator_id": operator_id, "kind": kind,
                                                    "label": label or f"bKash {operator_id}", "base_url": base_url})
    sealed = secretbox.seal(json.dumps(credentials), credentials_context(row["id"]))
    return await conn.fetchrow("UPDATE payment_gateways SET credentials_sealed = $2 WHERE id = $1 RETURNING *",
                               row["id"], sealed)


async def world(conn, base_url: str = "http://127.0.0.1:9/", credentials: dict | None = None, now=NOW,
                owner: str = "sub"):
    """A suspended customer (of the sub-operator by default) with one unpaid 500.00 bill; the operator's gateway."""
    w = await isp(conn, credit_limit_minor=0)
    creds = credentials or {"username": "u", "password": "p", "app_key": "k", "app_secret": "s"}
    gateway = await add_gateway(conn, w.operator["id"], base_url, creds)
    c = await customer(conn, w, owner=getattr(w, owner), billing_anchor=date(2024, 1, 1),
                       expires_at=now - timedelta(days=1))
    await billing.generate_bills(conn, now, w.system, [c["id"]])
    await conn.execute("UPDATE customers SET status = 'suspended', status_reason = 'unpaid' WHERE id = $1", c["id"])
    bill = await conn.fetchrow("SELECT * FROM bills WHERE customer_id = $1", c["id"])
    return SimpleNamespace(**vars(w), gateway=gateway, customer=c, bill=bill)


async def unbalanced_ledger_txns(conn) -> list:
    """Ledger transactions whose lines do not sum to zero (must be none)."""
    return await conn.fetch("SELECT txn_id, sum(amount_minor) FROM ledger_entries GROUP BY txn_id"
                            " HAVING sum(amount_minor) <> 0")
