"""Customer import batches: upload → mapping → dry-run review → one background import → rollback.

Every row is checked by the Add Customer form's own rules and written set-based by customer_bulk (the same
checks and rows as customer_records.create_customer, proven by tests/imports/test_set_based.py). The import
runs in ONE transaction (a row that fails is recorded and skipped): if the process dies
half-way nothing is half-imported. Progress is written on a second connection, so the page can poll it while
the import's own rows are still uncommitted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

import asyncpg

from radbill import importing, routeros, validate
from radbill.errors import NotFound, PermissionDenied, ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.importing.files import Table
from radbill.importing.mikrotik import ppp_table
from radbill.services import (
    audit,
    catalog,
    customer_bulk,
    customer_records,
    ip_pools,
    router_grants,
    webhooks,
)
from radbill.tenancy import Scope

log = logging.getLogger("radbill.imports")
STALE_SECONDS = 120  # an import with no heartbeat this long died with its process (its transaction rolled back)
PROGRESS_EVERY = 0.5
CHUNK = 1000  # rows per set-based write: progress moves and one statement's arrays stay small
_RUNNING: set[asyncio.Task] = set()  # keeps background imports referenced until they finish

BATCH_IN_SCOPE = """
    SELECT b.*, o.currency, o.name AS operator_name, n.shortname AS nas_name,
           (b.status = 'importing' AND coalesce(b.heartbeat_at, b.started_at) < now() - make_interval(secs => $3))
               AS stale
      FROM import_batches b JOIN operators o ON o.id = b.operator_id LEFT JOIN nas n ON n.id = b.nas_id
     WHERE b.id = $1 AND o.path <@ $2::ltree
"""


@dataclass
class RollbackResult:
    removed: int
    kept: list[tuple[str, str]] = field(default_factory=list)  # (username, why it stays)


# ---- reading ------------------------------------------------------------------------------------------

async def catalog_for(conn: asyncpg.Connection, scope: Scope) -> importing.Catalog:
    """The packages, billing profiles, zones and IP pools the Add Customer form would offer this caller."""
    return importing.Catalog(
        packages=[(r["id"], r["name"]) for r in await catalog.packages_for(conn, scope)],
        profiles=[(r["id"], r["name"]) for r in await catalog.billing_profiles_for(conn, scope)],
        zones=[(r["id"], r["name"]) for r in await catalog.zones_for(conn, scope)],
        pools=[(r["id"], r["name"]) for r in await ip_pools.list_pools(conn, scope, readable=True)])


async def get_batch(conn: asyncpg.Connection, scope: Scope, batch_id: int) -> asyncpg.Record:
    """The batch if its operator is in the caller's subtree; NotFound otherwise."""
    row = await conn.fetchrow(BATCH_IN_SCOPE, batch_id, scope.path, STALE_SECONDS)
    if row is None:
        raise NotFound(f"Import {batch_id} was not found.")
    return row


def batch_table(batch: asyncpg.Record) -> Table:
    rows = json.loads(batch["rows"])
    return Table(headers=json.loads(batch["headers"]), rows=[r[1] for r in rows], lines=[r[0] for r in rows],
                 ragged={int(k): v for k, v in json.loads(batch["defaults"]).get("_ragged", {}).items()})


def batch_mapping(batch: asyncpg.Record) -> tuple[dict[int, str], dict]:
    defaults = {k: v for k, v in json.loads(batch["defaults"]).items() if not k.startswith("_")}
    return {int(k): v for k, v in json.loads(batch["mapping"]).items()}, defaults


def router_profiles(batch: asyncpg.Record) -> dict[str, str]:
    """PPP profile name -> its rate-limit, as read from the router (MikroTik batches only)."""
    return json.loads(batch["defaults"]).get("_profiles", {})


async def batch_problems(conn: asyncpg.Connection, batch: asyncpg.Record, limit: int = 200) -> list[asyncpg.Record]:
    """Rows of a batch (already loaded in scope by get_batch) that failed when saving or were kept at rollback."""
    return await conn.fetch("SELECT line, username, status, detail FROM import_batch_items"
                            " WHERE batch_id = $1 AND status IN ('failed', 'kept') ORDER BY line LIMIT $2",
                            batch["id"], limit)


async def list_batches(conn: asyncpg.Connection, scope: Scope, limit: int = 20) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT b.id, b.source, b.filename, b.status, b.total, b.created_count, b.failed_count,"
        "       b.rolled_back_count, b.created_at, b.finished_at, a.username AS created_by_name"
        "  FROM import_batches b JOIN operators o ON o.id = b.operator_id LEFT JOIN accounts a ON a.id = b.created_by"
        " WHERE o.path <@ $1::ltree ORDER BY b.id DESC LIMIT $2", scope.path, limit)


async def _existing(conn, scope: Scope, table: Table, mapping: dict[int, str]) -> tuple[set[str], set[str]]:
    """Usernames (unique system-wide) and mobiles (within the caller's subtree) the file's rows already use."""
    def column(key):
        index = next((i for i, k in mapping.items() if k == key), None)
        return [] if index is None else [row[index].strip() for row in table.rows if row[index].strip()]

    usernames = await conn.fetch("SELECT username FROM customers WHERE lower(username) = ANY($1::text[])",
                                 [u.lower() for u in column("username")])
    mobiles = []
    for raw in column("mobile"):
        try:
            mobiles.append(validate.mobile(raw))
        except ValueError:
            pass
    found = await conn.fetch("SELECT c.mobile FROM customers c JOIN operators o ON o.id = c.operator_id"
                             " WHERE c.mobile = ANY($1::text[]) AND o.path <@ $2::ltree", mobiles, scope.path)
    return {r[0] for r in usernames}, {r[0] for r in found}


async def review(conn: asyncpg.Connection, scope: Scope, batch_id: int
                 ) -> tuple[asyncpg.Record, Table, importing.Review]:
    """The dry run: every row checked with the form's rules and against existing customers; writes nothing."""
    batch = await get_batch(conn, scope, batch_id)
    table = batch_table(batch)
    mapping, defaults = batch_mapping(batch)
    usernames, mobiles = await _existing(conn, scope, table, mapping)
    result = importing.check_rows(table, mapping, defaults, await catalog_for(conn, scope), batch["currency"],
                                  usernames, mobiles)
    return batch, table, result


# ---- writing ------------------------------------------------------------------------------------------

async def create_batch(conn: asyncpg.Connection, scope: Scope, table: Table, *, source: str = "file",
                       filename: str = "", nas_id: int | None = None) -> int:
    """Store an uploaded table with a proposed mapping (by header names) and proposed defaults."""
    mapping = importing.propose_mapping(table.headers)
    options = await catalog_for(conn, scope)
    defaults: dict = {"connection_type": "pppoe"}
    for lookup, (form_key, map_key) in importing.rows.LOOKUPS.items():
        if len(options.options(lookup)) == 1 and importing.FIELD_BY_KEY[lookup].defaultable:
            defaults[form_key] = str(options.options(lookup)[0][0])
        values = importing.distinct_values(table, mapping, lookup)
        if values:
            defaults[map_key] = importing.propose_value_map(values, options, lookup)
    defaults["_ragged"] = {str(k): v for k, v in table.ragged.items()}
    return await conn.fetchval(
        "INSERT INTO import_batches (operator_id, created_by, source, filename, nas_id, headers, rows, mapping,"
        " defaults, total) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10) RETURNING id",
        scope.operator_id, scope.account_id, source, filename[:255], nas_id, json.dumps(table.headers),
        json.dumps([[line, row] for line, row in zip(table.lines, table.rows, strict=True)]),
        json.dumps({str(k): v for k, v in mapping.items()}), json.dumps(defaults), len(table.rows))


async def save_mapping(conn: asyncpg.Connection, scope: Scope, batch_id: int, mapping: dict[int, str],
                       defaults: dict) -> list[str]:
    """Keep the user's mapping; returns the problems that stop the review (empty when it can go on)."""
    batch = await get_batch(conn, scope, batch_id)
    if batch["status"] != "uploaded":
        raise ValidationError(_("This import has already run; upload the file again to import it anew."))
    width = len(json.loads(batch["headers"]))
    mapping = {i: k for i, k in mapping.items() if 0 <= i < width and k in importing.FIELD_BY_KEY}
    kept = {k: v for k, v in json.loads(batch["defaults"]).items() if k.startswith("_")}
    stored = {**{k: v for k, v in defaults.items() if not k.startswith("_")}, **kept}
    await conn.execute("UPDATE import_batches SET mapping = $2::jsonb, defaults = $3::jsonb WHERE id = $1",
                       batch_id, json.dumps({str(k): v for k, v in mapping.items()}), json.dumps(stored))
    return importing.check_mapping(mapping, defaults)


async def start_import(conn: asyncpg.Connection, scope: Scope, batch_id: int, bill: bool) -> None:
    """Claim the batch for one background run (a double click or a second tab gets a clear refusal)."""
    batch = await get_batch(conn, scope, batch_id)
    mapping, defaults = batch_mapping(batch)
    problems = importing.check_mapping(mapping, defaults)
    if problems:
        raise ValidationError(" ".join(problems))
    claimed = await conn.fetchval(
        "UPDATE import_batches SET status = 'importing', bill = $2, processed = 0, error = NULL,"
        " started_at = now(), heartbeat_at = now()"
        " WHERE id = $1 AND (status IN ('uploaded', 'failed') OR (status = 'importing' AND"
        " coalesce(heartbeat_at, started_at) < now() - make_interval(secs => $3))) RETURNING id",
        batch_id, bill, STALE_SECONDS)
    if claimed is None:
        raise ValidationError(_("This import is already running or finished."))


def launch(pool: asyncpg.Pool, scope: Scope, batch_id: int, ip: str | None) -> asyncio.Task:
    """Run the import in the background of this process."""
    task = asyncio.create_task(run_import(pool, scope, batch_id, ip))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return task


async def run_import(pool: asyncpg.Pool, scope: Scope, batch_id: int, ip: str | None = None, *,
                     one_by_one: bool = False) -> None:
    """Create every valid row in one transaction; record each row; never raises. The rows are written set-based
    (customer_bulk, CHUNK rows per statement); `one_by_one` runs each through create_customer instead (the
    reference the set path is proven against in tests/imports/test_set_based.py, and bench.imports' baseline)."""
    try:
        async with pool.acquire() as conn:
            await _import_all(pool, conn, scope, batch_id, ip, one_by_one)
    except asyncio.CancelledError:
        # run as a task of the upload's request: the language is the uploader's (contextvars are copied)
        await _fail(pool, batch_id, _("The import was stopped (the admin shut down); nothing was imported."))
        raise
    except Exception as exc:  # noqa: BLE001 - the batch page must say what happened, the log keeps the trace
        log.exception("import batch %s failed", batch_id)
        await _fail(pool, batch_id, _("The import failed and nothing was imported (%(error)s). Try again; tell "
                                      "your administrator if it happens again.", error=type(exc).__name__))


async def _fail(pool, batch_id: int, message: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE import_batches SET status = 'failed', error = $2, processed = 0,"
                           " finished_at = now() WHERE id = $1 AND status = 'importing'", batch_id, message)


async def _import_all(pool, conn, scope: Scope, batch_id: int, ip: str | None, one_by_one: bool) -> None:
    last = time.monotonic()
    async with conn.transaction():
        batch, table, result = await review(conn, scope, batch_id)
        created = failed = 0
        step = 1 if one_by_one else CHUNK
        for start in range(0, len(result.rows), step):
            rows = [r for r in result.rows[start:start + step] if r.status == "new"]
            outcomes = await _create(conn, scope, rows, ip, batch, one_by_one)
            created += sum(1 for o in outcomes if not isinstance(o, ValidationError))
            failed += sum(1 for o in outcomes if isinstance(o, ValidationError))
            await _record_items(conn, batch_id, rows, outcomes)
            if time.monotonic() - last > PROGRESS_EVERY:
                last = time.monotonic()
                async with pool.acquire() as progress:
                    await progress.execute("UPDATE import_batches SET processed = $2, heartbeat_at = now()"
                                           " WHERE id = $1", batch_id, min(start + step, len(result.rows)))
        skipped = len(result.rows) - created - failed
        await conn.execute(
            "UPDATE import_batches SET status = 'done', processed = total, created_count = $2, failed_count = $3,"
            " skipped_count = $4, finished_at = now(), heartbeat_at = now() WHERE id = $1",
            batch_id, created, failed, skipped)
        await audit.record(conn, scope, "import", "import_batch", batch_id,
                           {"created": created, "failed": failed, "skipped": skipped, "bill": batch["bill"],
                            "source": batch["source"], "filename": batch["filename"]}, ip)


async def _create(conn, scope: Scope, rows: list, ip: str | None, batch, one_by_one: bool) -> list:
    """A customer record or the ValidationError that refused it, per row."""
    detail = {"import_batch": batch["id"]}
    if not one_by_one:
        return await customer_bulk.create_customers(conn, scope, [r.form for r in rows], ip, bill=batch["bill"],
                                                    audit_detail=detail)
    outcomes = []
    for row in rows:
        try:  # create_customer's own transaction is a savepoint here: a refused row leaves nothing
            outcomes.append(await customer_records.create_customer(conn, scope, row.form, ip, bill=batch["bill"],
                                                                   audit_detail=detail))
        except ValidationError as exc:
            outcomes.append(exc)
    return outcomes


async def _record_items(conn, batch_id: int, rows: list, outcomes: list) -> None:
    """One import_batch_items row per line: the customer it created, or what was wrong with it."""
    if not rows:
        return
    items = []
    for row, outcome in zip(rows, outcomes, strict=True):
        if isinstance(outcome, ValidationError):
            items.append((row.line, None, row.form.get("username"), "failed",
                          json.dumps(outcome.fields or {"_row": str(outcome)})))
        else:
            items.append((row.line, outcome["id"], outcome["username"], "created", "{}"))
    await conn.execute(
        "INSERT INTO import_batch_items (batch_id, line, customer_id, username, status, detail)"
        " SELECT $1, t.line, t.customer_id, t.username, t.status, t.detail::jsonb"
        "   FROM unnest($2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[]) t(line, customer_id, username,"
        "        status, detail)", batch_id, *(list(col) for col in zip(*items, strict=True)))


ROLLBACK_CANDIDATES = """
    SELECT i.line, c.id, c.username, c.operator_id,
           EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = c.id) AS paid,
           EXISTS (SELECT 1 FROM radacct r WHERE r.username = c.username) AS sessions,
           EXISTS (SELECT 1 FROM bills b WHERE b.customer_id = c.id)
               OR EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.customer_id = c.id) AS billed,
           EXISTS (SELECT 1 FROM audit_log l WHERE l.object_kind = 'customer' AND l.object_id = c.id
                      AND l.action <> 'create') AS changed
      FROM import_batch_items i JOIN customers c ON c.id = i.customer_id
     WHERE i.batch_id = $1 AND i.status = 'created'
     ORDER BY c.id
"""
WHY_KEPT = (("paid", lazy_gettext("a payment was recorded")),
            ("sessions", lazy_gettext("it has been online (RADIUS sessions)")),
            ("billed", lazy_gettext("it has bills in the ledger (void them instead)")),
            ("changed", lazy_gettext("it was edited since")))


def _split_candidates(rows) -> tuple[list, list[tuple[str, str]]]:
    """(customers a rollback removes, (username, why it stays) for the rest): the one rule for both."""
    removable, kept = [], []
    for row in rows:
        reasons = [text for flag, text in WHY_KEPT if row[flag]]
        if reasons:
            kept.append((row["username"], "; ".join(reasons)))
        else:
            removable.append(row)
    return removable, kept


async def _rollback_candidates(conn: asyncpg.Connection, scope: Scope, batch_id: int, lock: bool):
    batch = await get_batch(conn, scope, batch_id)
    if batch["status"] != "done":
        raise ValidationError(_("Only a finished import can be rolled back."))
    if lock:
        await conn.execute("SELECT 1 FROM import_batches WHERE id = $1 FOR UPDATE", batch_id)
    return _split_candidates(await conn.fetch(ROLLBACK_CANDIDATES + (" FOR UPDATE OF c" if lock else ""), batch_id))


async def rollback_preview(conn: asyncpg.Connection, scope: Scope, batch_id: int) -> RollbackResult:
    """What rollback_batch would do now (for the confirmation page); changes nothing."""
    removable, kept = await _rollback_candidates(conn, scope, batch_id, lock=False)
    return RollbackResult(len(removable), kept)


async def rollback_batch(conn: asyncpg.Connection, scope: Scope, batch_id: int, ip: str | None = None
                         ) -> RollbackResult:
    """Remove the customers this batch created that nothing has happened to since; keep (and name) the rest."""
    async with conn.transaction():
        removable, kept = await _rollback_candidates(conn, scope, batch_id, lock=True)
        result, removed = RollbackResult(0, kept), []
        for row in removable:
            try:
                async with conn.transaction():
                    await conn.execute("UPDATE import_batch_items SET status = 'rolled_back', customer_id = NULL"
                                       " WHERE batch_id = $1 AND line = $2", batch_id, row["line"])
                    gone = await conn.fetchrow("DELETE FROM customers WHERE id = $1 RETURNING *", row["id"])
                    await audit.record(conn, scope, "delete", "customer", row["id"],
                                       {"username": row["username"], "import_batch": batch_id, "rollback": True},
                                       ip, operator_id=row["operator_id"])
                removed.append(gone)  # only once its savepoint stands
                result.removed += 1
            except asyncpg.ForeignKeyViolationError:
                result.kept.append((row["username"], _("other records refer to it")))
        # one statement for the whole batch, in this transaction: subscribers hear exactly what was removed
        await webhooks.emit_many(conn, "customer.deleted", [
            (r["operator_id"], customer_records.deleted_event(r, "import_rollback", import_batch_id=batch_id))
            for r in removed])
        await conn.executemany("UPDATE import_batch_items SET status = 'kept', detail = $3::jsonb WHERE batch_id = $1"
                               " AND status = 'created' AND username = $2",
                               [(batch_id, u, json.dumps({"_row": _("Kept: %(why)s.", why=why)})) for u, why in result.kept])
        await conn.execute("UPDATE import_batches SET status = 'rolled_back', rolled_back_count = $2,"
                           " rolled_back_at = now() WHERE id = $1", batch_id, result.removed)
        await audit.record(conn, scope, "rollback", "import_batch", batch_id,
                           {"removed": result.removed, "kept": dict(result.kept)}, ip)
    return result


# ---- MikroTik -----------------------------------------------------------------------------------------

def may_read_routers(scope: Scope) -> bool:
    """Reading a router's secrets is router administration: operators, the group admin, managers allowed it."""
    return scope.role in ("group_admin", "operator") or (scope.role == "manager" and scope.can("routers.manage"))


async def api_routers(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """Routers the caller may read that have RouterOS API credentials: in scope, or for a sub-operator the ones
    its operator granted to its login."""
    if not may_read_routers(scope):
        return [r for r in await router_grants.granted_routers(conn, scope) if r["api_host"] and r["api_username"]]
    return await conn.fetch(
        "SELECT n.id, n.shortname, n.nasname, n.api_host, n.api_port FROM nas n JOIN operators o ON o.id = n.operator_id"
        " WHERE o.path <@ $1::ltree AND n.status = 'active' AND n.api_host IS NOT NULL AND n.api_username IS NOT NULL"
        " ORDER BY lower(n.shortname)", scope.path)


async def create_batch_from_router(conn: asyncpg.Connection, scope: Scope, nas_id: int,
                                   wait_seconds: float = 10) -> tuple[int, int]:
    """Read /ppp/secret and /ppp/profile from a router in scope into a new batch; returns (batch id, disabled)."""
    if may_read_routers(scope):
        nas = await conn.fetchrow(
            "SELECT n.* FROM nas n JOIN operators o ON o.id = n.operator_id WHERE n.id = $1 AND o.path <@ $2::ltree",
            nas_id, scope.path)
        if nas is None:
            raise NotFound(f"Router {nas_id} was not found.")
    else:
        nas = next((r for r in await router_grants.granted_routers(conn, scope) if r["id"] == nas_id), None)
        if nas is None:
            raise PermissionDenied(_("Reading a router needs your operator's permission: ask them to let your login "
                                     "import from this router on the router's page."), reason="routers")
    if not nas["api_host"] or not nas["api_username"]:
        raise ValidationError(_("This router has no API address and login; add them on the router's page first."))
    data = await routeros.read_ppp(nas["api_host"], nas["api_port"] or 8728, nas["api_username"],
                                   nas["api_password"] or "", wait_seconds=wait_seconds)
    table, disabled = ppp_table(data.secrets)
    if not table.rows:
        raise ValidationError(_("The router %(router)s has no enabled PPP secrets to import.", router=nas["shortname"]))
    batch_id = await create_batch(conn, scope, table, source="mikrotik", filename=nas["shortname"], nas_id=nas_id)
    profiles = {str(p.get("name")): str(p.get("rate-limit", "")) for p in data.profiles}
    await conn.execute("UPDATE import_batches SET defaults = defaults || jsonb_build_object('_profiles', $2::jsonb)"
                       " WHERE id = $1", batch_id, json.dumps(profiles))
    return batch_id, disabled
