"""Adding, editing, finding and showing customers (status and package changes live in customers.py)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from radbill import clock
from radbill.customer_forms import (  # noqa: F401  (re-exported for the admin views)
    CONNECTION_TYPES,
    EDITABLE,
    STATUSES,
    CustomerForm,
    int_or_none,
    parse_form,
)
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.policy.state import DISPLAY_STATES, display_state_sql, state_condition
from radbill.services import audit, ip_pools, webhooks
from radbill.services.customers import get_customer, sellable_package
from radbill.services.filters import ScopedWhere, subtree_operator_ids
from radbill.tenancy import Scope
from radbill.timeline import sentences

PAGE_SIZE = 50
# what customer.created carries: ids and plain details, never the RADIUS password
WEBHOOK_FIELDS = ("username", "name", "mobile", "status", "connection_type", "package_id", "billing_profile_id",
                  "zone_id", "expires_at")
# an open accounting session: radacct_open_user (username WHERE acctstoptime IS NULL) answers it per customer
ONLINE_SQL = "EXISTS (SELECT 1 FROM radacct r WHERE r.username = c.username AND r.acctstoptime IS NULL)"
# The page's ids are chosen first (by rank, then newest): the display columns (the online EXISTS above all) are
# computed for the page only. With text typed, {source} joins the matches, already in the page's order
# (ScopedWhere.customer_search), so the page reads customer rows only until it is full.
SEARCH_SQL = """
    WITH page AS MATERIALIZED (
        SELECT c.id, {rank} AS rank FROM {source}
         WHERE {where} ORDER BY {order} LIMIT {limit} OFFSET {offset})
    SELECT page.rank, c.id, c.username, c.name, c.mobile, c.status, {state} AS state, c.connection_type, c.expires_at,
           p.name AS package, z.name AS zone, o.name AS operator_name, {online} AS online
      FROM page JOIN customers c ON c.id = page.id JOIN operators o ON o.id = c.operator_id
      JOIN packages p ON p.id = c.package_id LEFT JOIN zones z ON z.id = c.zone_id
     ORDER BY page.rank, c.id DESC
"""


def identity_errors(username_taken: bool, static_ip_taken: bool) -> dict:
    """The sentences for a username or address another customer holds (the one wording for both write paths)."""
    errors = {}
    if username_taken:
        errors["username"] = _("This username is taken (usernames are unique across the whole system).")
    if static_ip_taken:
        errors["static_ip"] = _("Another customer already uses this address.")
    return errors


# radbill_taken is the uniqueness rule; the set-based import asks it for a whole column at once
TAKEN_SQL = "SELECT radbill_taken($1, $2, $3)"
TAKEN_MANY_SQL = "SELECT v FROM unnest($2::text[]) v WHERE radbill_taken($1, v, NULL)"


async def catalog_errors(conn, values: dict, operator: asyncpg.Record) -> dict:
    """Zone, billing profile and package: each must be one this operator may give its customers."""
    errors = {}
    if values.get("zone_id") is not None and not await conn.fetchval(
            "SELECT exists(SELECT 1 FROM zones z JOIN operators o ON o.id = z.operator_id"
            " WHERE z.id = $1 AND (o.id = $2 OR o.id = $3))", values["zone_id"], operator["id"],
            operator["parent_id"]):
        errors["zone_id"] = _("Choose one of your zones.")
    if values.get("billing_profile_id") is not None and not await conn.fetchval(
            "SELECT exists(SELECT 1 FROM billing_profiles b"
            " WHERE b.id = $1 AND b.status = 'active' AND radbill_sellable('billing_profile', b.id, $2))",
            values["billing_profile_id"], operator["id"]):
        errors["billing_profile_id"] = _("Choose a billing profile available to this operator.")
    if values.get("package_id") is not None:
        probe = {"operator_id": operator["id"], "operator_kind": operator["kind"], "operator_path": operator["path"],
                 "connection_type": values.get("connection_type"), "username": values.get("username") or "the"}
        try:
            await sellable_package(conn, probe, values["package_id"])
        except ValidationError as exc:
            errors["package_id"] = str(exc)
    return errors


async def _database_errors(conn, scope: Scope, values: dict, operator: asyncpg.Record, customer_id: int | None
                           ) -> dict:
    username_taken = bool(values.get("username")) and await conn.fetchval(
        TAKEN_SQL, "customer_username", values["username"], customer_id)
    static_ip_taken = bool(values.get("static_ip")) and await conn.fetchval(
        TAKEN_SQL, "customer_static_ip", values["static_ip"], customer_id)
    return identity_errors(username_taken, static_ip_taken) | await catalog_errors(conn, values, operator)


async def owning_operator(conn, scope: Scope, operator_id: int | None) -> asyncpg.Record:
    """The operator a new customer belongs to: the caller's own, or one below it that the caller chose."""
    row = await conn.fetchrow("SELECT id, parent_id, kind, path::text AS path, currency FROM operators"
                              " WHERE id = $1 AND path <@ $2::ltree", operator_id or scope.operator_id, scope.path)
    if row is None:
        raise NotFound("No such operator.")
    return row


async def create_customer(conn: asyncpg.Connection, scope: Scope, form, ip: str | None = None, *,
                          bill: bool = True, audit_detail: dict | None = None) -> asyncpg.Record:
    """Validate and insert; the customer can authenticate at once (NOTIFY) and, when `bill`, gets the initial
    bill its profile calls for (the import wizard may leave that to the next cycle). `form` is any mapping of
    the Add Customer form's fields; ValidationError.fields says what is wrong, per field. (The import's
    set-based twin is customer_bulk.create_customers: the same checks and rows, written in batches.)"""
    operator = await owning_operator(conn, scope, int_or_none(form, "operator_id"))
    parsed = parse_form(form, operator["currency"], creating=True)
    errors = parsed.errors | await _database_errors(conn, scope, parsed.values, operator, None)
    if errors:
        raise ValidationError(_("Please correct the highlighted fields; nothing was saved."), errors)
    values = {**parsed.values, "operator_id": operator["id"]}
    pool_id = values.pop("static_pool", None)
    async with conn.transaction():
        if pool_id is not None and values["static_ip"] is None:
            values["static_ip"] = await ip_pools.next_free_address(conn, pool_id)
        try:
            customer = await conn.fetchrow(
                "INSERT INTO customers (" + ", ".join(INSERT_COLUMNS) + ")"  # noqa: S608 - fixed column list
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::inet, $12::macaddr, $13, $14, $15, $16)"
                " RETURNING *", *(values[c] for c in INSERT_COLUMNS))
        except asyncpg.UniqueViolationError as exc:  # a concurrent add won the race for the username or address
            raise already_used("static_ip" if "static_ip" in str(exc) else "username") from None
        await audit.record(conn, scope, "create", "customer", customer["id"], create_audit_detail(values, audit_detail),
                           ip, operator_id=operator["id"])
        await webhooks.emit(conn, "customer.created", operator["id"], created_event(customer))
        if bill:
            await bill_new_customer(conn, scope, customer["id"])
    return customer


def created_event(customer: asyncpg.Record) -> dict:
    """customer.created's data for a new customer row (both write paths send this shape)."""
    return {"customer_id": customer["id"], "operator_id": customer["operator_id"],
            **{k: customer[k] for k in WEBHOOK_FIELDS}}


def deleted_event(customer: asyncpg.Record, reason: str, **context) -> dict:
    """customer.deleted's data: the removed row's last details (created_event's shape), why it went, and where
    from (e.g. the import batch); a receiver that kept the customer by id or username can drop it."""
    return {**created_event(customer), "reason": reason, **context}


# the columns a new customer is written with, in the order both write paths bind them
INSERT_COLUMNS = ("operator_id", "username", "radius_password", "name", "mobile", "email", "address", "national_id",
                  "zone_id", "connection_type", "static_ip", "mac_address", "package_id", "billing_profile_id",
                  "custom_price_minor", "simultaneous_use")


def already_used(field: str) -> ValidationError:
    """A concurrent add won the race for this username or address (the unique index said so)."""
    return ValidationError(_("Please correct the highlighted fields; nothing was saved."),
                           {field: _("Already used by another customer.")})


def create_audit_detail(values: dict, audit_detail: dict | None) -> dict:
    """The 'create' audit entry's detail: every saved value but the password, plus the caller's context."""
    return {**{k: v for k, v in values.items() if k != "radius_password"}, **(audit_detail or {})}


async def bill_new_customer(conn: asyncpg.Connection, scope: Scope, customer_id: int) -> None:
    """The initial bill (none for free profiles): the billing service's own generation for this customer."""
    await bill_new_customers(conn, scope, [customer_id])


async def bill_new_customers(conn: asyncpg.Connection, scope: Scope, customer_ids: list[int]) -> None:
    """The initial bills of new customers in one set-based run of the billing service's own generation."""
    from radbill.services import billing

    if customer_ids:
        await billing.generate_bills(conn, clock.now(), customer_ids=customer_ids)


def form_of(c) -> dict:
    """The Edit Customer form's fields as they stand for customer row `c` (a card): what the edit page shows and
    what the API's PATCH starts from, so a field left out keeps its value."""
    form = {k: c[k] for k in ("name", "mobile", "email", "address", "national_id", "username", "connection_type")}
    form.update(zone_id=c["zone_id"], billing_profile_id=c["billing_profile_id"], static_ip=c["static_ip_text"],
                mac_address=c["mac_text"], simultaneous_use=c["simultaneous_use"] or "",
                custom_price=(c["custom_price_minor"] / 100) if c["custom_price_minor"] is not None else "")
    return form


async def update_customer(conn: asyncpg.Connection, scope: Scope, customer_id: int, form,
                          ip: str | None = None) -> None:
    """Edit everything but status and package (those go through customers.py and reach the live session)."""
    old = await get_customer(conn, scope, customer_id)
    operator = await owning_operator(conn, scope, old["operator_id"])
    merged = dict(form)
    merged.setdefault("package_id", str(old["package_id"]))
    merged.setdefault("username", old["username"])
    parsed = parse_form(merged, old["currency"], creating=False)
    parsed.values["package_id"] = old["package_id"]
    errors = parsed.errors | await _database_errors(conn, scope, parsed.values, operator, customer_id)
    if errors:
        raise ValidationError(_("Please correct the highlighted fields; nothing was saved."), errors)
    values = {k: v for k, v in parsed.values.items() if k in EDITABLE and k != "operator_id"}
    if values.get("radius_password") is None:
        values.pop("radius_password", None)
    before = {k: (str(old[k]) if old[k] is not None and k in ("static_ip", "mac_address") else old[k]) for k in values}
    pool_id = parsed.values.get("static_pool") if values.get("static_ip") is None else None
    async with conn.transaction():
        if pool_id is not None:
            values["static_ip"] = await ip_pools.next_free_address(conn, pool_id)
        changed = audit.changes(before, values)
        if not changed:
            return
        assignments = ", ".join(f"{column} = ${i + 2}" + ("::inet" if column == "static_ip" else "::macaddr"
                                                            if column == "mac_address" else "")
                                for i, column in enumerate(changed))
        try:
            await conn.execute(f"UPDATE customers SET {assignments} WHERE id = $1",  # noqa: S608 - fixed column list
                               customer_id, *(values[c] for c in changed))
        except asyncpg.UniqueViolationError as exc:  # a concurrent save won the race for the username or address
            raise already_used("static_ip" if "static_ip" in str(exc) else "username") from None
        await webhooks.customer_updated(conn, old["operator_id"], customer_id, changed)
        if "radius_password" in changed:
            changed["radius_password"] = ["(hidden)", "(changed)"]
        await audit.record(conn, scope, "edit", "customer", customer_id, changed, ip, operator_id=old["operator_id"])


async def search(conn: asyncpg.Connection, scope: Scope, query: str = "", status: str | None = None,
                 connection_type: str | None = None, package_id: int | None = None,
                 billing_profile_id: int | None = None, zone_id: int | None = None, page: int = 1,
                 online: bool = False, now: datetime | None = None, limit: int = PAGE_SIZE,
                 after: tuple[int, int] | None = None) -> tuple[list[asyncpg.Record], bool]:
    """One page of customers in scope, exact matches first (ScopedWhere.customer_search), then newest first, with
    display state and online flag; `status` is a display state (so "expired" and "active" exclude each other);
    returns (rows, has_more). The admin pages by `page`; the API by `after`, the (rank, id) of the last row seen
    (a cursor stays right when customers are added in between)."""
    where = ScopedWhere(scope, "c.operator_id", await subtree_operator_ids(conn, scope))
    arg = where.arg
    matches = where.customer_search(query)
    if matches is None:
        source, rank, key_id = "customers c", "0", "c.id"
    else:  # the cursor on the match's own columns: passed-over candidates are not read
        source, rank, key_id = f"{matches[0]} m JOIN customers c ON c.id = m.id", "m.rank", "m.id"
        where.add(matches[1])
    order = f"{rank}, {key_id} DESC" if matches else "c.id DESC"
    if after is not None:
        where.add(f"({rank}, -{key_id}) > ({arg(int(after[0]))}::int, -{arg(int(after[1]))}::bigint)")
    now_ref = arg(now or clock.now())
    if status in DISPLAY_STATES:
        where.add(state_condition(status, now_ref))
    if online:
        where.add(ONLINE_SQL)
    if connection_type in CONNECTION_TYPES:
        where.add(f"c.connection_type = {arg(connection_type)}")
    for column, value in (("package_id", package_id), ("billing_profile_id", billing_profile_id),
                          ("zone_id", zone_id)):
        if value is not None:
            where.add(f"c.{column} = {arg(value)}")
    offset = (max(page, 1) - 1) * limit if after is None else 0
    # the conditions are fixed fragments with numbered parameters; no typed text reaches the SQL
    query_sql = SEARCH_SQL.format(state=display_state_sql(now_ref), online=ONLINE_SQL, where=where.sql, rank=rank,
                                  source=source, order=order, limit=int(limit) + 1, offset=int(offset))
    rows = await conn.fetch(query_sql, *where.args)
    return list(rows[:limit]), len(rows) > limit


async def card(conn: asyncpg.Connection, scope: Scope, customer_id: int, now: datetime | None = None
               ) -> asyncpg.Record:
    """The customer with its display state (policy.state) and the names of its package, profile, zone and
    operator, scoped (NotFound for missing and foreign alike): the profile page's head and the API's customer."""
    customer = await conn.fetchrow(
        f"SELECT c.*, {display_state_sql('$3')} AS state,"  # noqa: S608 - a fixed expression, parameters bound
        "       host(c.static_ip) AS static_ip_text, c.mac_address::text AS mac_text, p.name AS package_name,"
        "       p.download_kbps, p.upload_kbps, p.price_minor, b.name AS profile_name, b.billing_type,"
        "       z.name AS zone_name, o.name AS operator_name, o.currency, o.timezone,"
        "       (SELECT np.name FROM packages np WHERE np.id = c.next_package_id) AS next_package_name"
        "  FROM customers c JOIN operators o ON o.id = c.operator_id JOIN packages p ON p.id = c.package_id"
        "  JOIN billing_profiles b ON b.id = c.billing_profile_id LEFT JOIN zones z ON z.id = c.zone_id"
        " WHERE c.id = $1 AND o.path <@ $2::ltree", customer_id, scope.path, now or clock.now())
    if customer is None:
        raise NotFound(f"Customer {customer_id} was not found.")
    return customer


async def detail(conn: asyncpg.Connection, scope: Scope, customer_id: int, now: datetime | None = None) -> dict:
    """Everything the profile page shows, scoped; `customer.state` is the display state (policy.state)."""
    customer = await card(conn, scope, customer_id, now)
    sessions = await conn.fetch(
        "SELECT acctsessionid, host(nasipaddress) AS nas, host(framedipaddress) AS ip, callingstationid,"
        "       acctstarttime, acctupdatetime, coalesce(acctinputoctets, 0) AS down, coalesce(acctoutputoctets, 0) AS up"
        "  FROM radacct WHERE username = $1 AND acctstoptime IS NULL ORDER BY acctstarttime DESC", customer["username"])
    recent_sessions = await conn.fetch(
        "SELECT acctstarttime, acctstoptime, acctsessiontime, acctterminatecause,"
        "       coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0) AS octets"
        "  FROM radacct WHERE username = $1 AND acctstoptime IS NOT NULL ORDER BY acctstarttime DESC LIMIT 10",
        customer["username"])
    bills = await conn.fetch("SELECT * FROM bills WHERE customer_id = $1 ORDER BY period_start DESC LIMIT 24",
                             customer_id)
    payments = await conn.fetch(
        "SELECT p.*, a.username AS collector FROM payments p LEFT JOIN accounts a ON a.id = p.collected_by"
        " WHERE p.customer_id = $1 ORDER BY p.received_at DESC LIMIT 50", customer_id)
    timeline = await conn.fetch(
        "SELECT l.at, l.action, l.detail, coalesce(a.username, 'API ' || k.name) AS actor, host(l.ip) AS ip"
        "  FROM audit_log l LEFT JOIN accounts a ON a.id = l.account_id"
        "  LEFT JOIN api_clients k ON k.id = l.api_client_id"  # a change made through /api/v1 names its client
        # the customer's support tickets belong on their timeline too
        " WHERE (l.object_kind = 'customer' AND l.object_id = $1)"
        # (= ANY (ARRAY(...)): an InitPlan, so both arms stay index scans on audit_log_object)
        "    OR (l.object_kind = 'ticket'"
        "        AND l.object_id = ANY (ARRAY(SELECT t.id FROM tickets t WHERE t.customer_id = $1)))"
        " ORDER BY l.id DESC LIMIT 100", customer_id)
    return {"customer": customer, "sessions": sessions, "recent_sessions": recent_sessions, "bills": bills,
            "payments": payments, "timeline": sentences(timeline, customer["timezone"], customer["currency"])}
