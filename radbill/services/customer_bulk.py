"""Many new customers at once (the import): create_customer's own checks and rows, written in batches.

The checks are customer_records' own functions (parse_form, identity_errors with the radbill_taken rule,
catalog_errors), asked once per distinct value instead of once per row; the writes are one INSERT per table
(customers, audit_log) and one run of the billing service's generation for the initial bills. Rows that ask
for the next free address of a pool get it in file order from one ip_pools.next_free_addresses query per pool
(the same rule and lock as a single save). tests/imports/test_set_based.py proves both paths leave the same rows.
"""

from __future__ import annotations

import asyncpg

from radbill.customer_forms import CustomerForm, int_or_none, parse_form
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import audit, ip_pools, webhooks
from radbill.services.customer_records import (
    INSERT_COLUMNS,
    TAKEN_MANY_SQL,
    already_used,
    bill_new_customers,
    catalog_errors,
    create_audit_detail,
    created_event,
    identity_errors,
    owning_operator,
)
from radbill.tenancy import Scope

_TYPES = {"operator_id": "bigint", "zone_id": "bigint", "package_id": "bigint", "billing_profile_id": "bigint",
          "custom_price_minor": "bigint", "simultaneous_use": "int"}
_CASTS = {"static_ip": "::inet", "mac_address": "::macaddr"}
# ON CONFLICT DO NOTHING: a row another session added since the checks is left out and reported, like the
# UniqueViolationError create_customer turns into a sentence
INSERT_MANY_SQL = (
    "INSERT INTO customers (" + ", ".join(INSERT_COLUMNS) + ") "  # noqa: S608 - a fixed column list
    "SELECT " + ", ".join(f"t.{c}{_CASTS.get(c, '')}" for c in INSERT_COLUMNS) +
    " FROM unnest(" + ", ".join(f"${i + 1}::{_TYPES.get(c, 'text')}[]" for i, c in enumerate(INSERT_COLUMNS)) +
    ") WITH ORDINALITY AS t(" + ", ".join(INSERT_COLUMNS) + ", n) ORDER BY t.n"
    " ON CONFLICT DO NOTHING RETURNING *")

Result = asyncpg.Record | ValidationError


async def create_customers(conn: asyncpg.Connection, scope: Scope, forms: list, ip: str | None = None, *,
                           bill: bool = True, audit_detail: dict | None = None) -> list[Result]:
    """One result per form, in order: the new customer, or the ValidationError create_customer would raise for
    it at that point of a one-by-one run (earlier forms of the list count as already saved)."""
    results: list[Result | None] = [None] * len(forms)
    batch: list[tuple[int, dict]] = []
    # the checks run inside the transaction: a pool's lock, taken when its addresses are found, lasts until the
    # rows holding them are written
    async with conn.transaction():
        for i, item in enumerate(await _check(conn, scope, forms)):
            if isinstance(item, ValidationError):
                results[i] = item
            else:
                batch.append((i, item))
        for i, row in (await _write(conn, scope, batch, ip, audit_detail)).items():
            results[i] = row
        if bill:
            await bill_new_customers(conn, scope, [r["id"] for r in results if isinstance(r, asyncpg.Record)])
    return results  # type: ignore[return-value]


class _PoolAddresses:
    """The next free addresses of each pool a form asks, handed out in form order. Each form can use up or block
    (with its typed address) at most one candidate, so `wanted` = the number of forms is always enough."""

    def __init__(self, conn, wanted: int) -> None:
        self.conn, self.wanted = conn, wanted
        self.free: dict[int, list[str]] = {}
        self.refusals: dict[int, ValidationError] = {}

    async def take(self, pool_id: int, taken: set[str]) -> str | ValidationError:
        if pool_id not in self.free:
            self.free[pool_id] = await ip_pools.next_free_addresses(self.conn, pool_id, self.wanted)
            self.free[pool_id].reverse()  # popped from the end: lowest first
        free = self.free[pool_id]
        while free and free[-1] in taken:  # an earlier form typed it, or took it from an overlapping pool
            free.pop()
        if free:
            return free.pop()
        if pool_id not in self.refusals:
            self.refusals[pool_id] = await ip_pools.no_address_left(self.conn, pool_id)
        return self.refusals[pool_id]


async def _check(conn, scope: Scope, forms: list) -> list[dict | ValidationError]:
    """Each form's saved values (with operator_id and, for a pooled form, its address), or its ValidationError,
    by create_customer's rules, in form order."""
    operators: dict = {}
    parsed: list[tuple[asyncpg.Record, CustomerForm]] = []
    for form in forms:
        key = int_or_none(form, "operator_id")
        if key not in operators:
            operators[key] = await owning_operator(conn, scope, key)
        parsed.append((operators[key], parse_form(form, operators[key]["currency"], creating=True)))
    taken_users = await _taken(conn, "customer_username", [p.values.get("username") for _, p in parsed])
    taken_ips = await _taken(conn, "customer_static_ip", [p.values.get("static_ip") for _, p in parsed])
    catalog: dict = {}
    pools = _PoolAddresses(conn, len(forms))
    out: list[dict | ValidationError] = []
    for operator, form in parsed:
        values = form.values
        key = (operator["id"], values.get("zone_id"), values.get("billing_profile_id"), values.get("package_id"),
               values.get("connection_type"))
        if key not in catalog:
            catalog[key] = await catalog_errors(conn, {**values, "username": None}, operator)
        found = catalog[key]
        if "package_id" in found:  # the package sentence names the customer: ask again with this one's username
            found = await catalog_errors(conn, values, operator)
        errors = form.errors | identity_errors(values.get("username") in taken_users,
                                               values.get("static_ip") in taken_ips) | found
        if errors:
            out.append(ValidationError(_("Please correct the highlighted fields; nothing was saved."), errors))
            continue
        values = {k: v for k, v in values.items() if k != "static_pool"}
        if form.values.get("static_pool") is not None and values.get("static_ip") is None:
            address = await pools.take(form.values["static_pool"], taken_ips)
            if isinstance(address, ValidationError):
                out.append(address)
                continue
            values["static_ip"] = address
        # saved rows count for the rows after them, as they would one by one
        taken_users.add(values["username"])
        if values.get("static_ip"):
            taken_ips.add(values["static_ip"])
        out.append({**values, "operator_id": operator["id"]})
    return out


async def _taken(conn, what: str, values: list[str | None]) -> set[str]:
    present = sorted({v for v in values if v})
    return {r[0] for r in await conn.fetch(TAKEN_MANY_SQL, what, present)} if present else set()


async def _write(conn, scope: Scope, batch: list[tuple[int, dict]], ip: str | None,
                 audit_detail: dict | None) -> dict[int, Result]:
    """Insert the checked rows and their 'create' audit entries; {form index: customer or refusal}."""
    if not batch:
        return {}
    rows = await conn.fetch(INSERT_MANY_SQL, *([values[c] for _, values in batch] for c in INSERT_COLUMNS))
    by_username = {r["username"]: r for r in rows}
    results: dict[int, Result] = {}
    entries = []
    for i, values in batch:
        customer = by_username.get(values["username"])
        if customer is None:
            results[i] = None  # type: ignore[assignment]  # filled below
            continue
        results[i] = customer
        entries.append((customer["id"], create_audit_detail(values, audit_detail), values["operator_id"]))
    lost = [(i, values) for i, values in batch if results[i] is None]
    if lost:  # a concurrent add won the race: which of the two unique values did it take?
        users = {r[0] for r in await conn.fetch("SELECT username FROM customers WHERE username = ANY($1::text[])",
                                                [v["username"] for _, v in lost])}
        for i, values in lost:
            results[i] = already_used("username" if values["username"] in users else "static_ip")
    await audit.record_many(conn, scope, "create", "customer", entries, ip)
    await webhooks.emit_many(conn, "customer.created", [(r["operator_id"], created_event(r)) for r in rows])
    return results
