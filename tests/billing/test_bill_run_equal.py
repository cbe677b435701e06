"""The set-based bill run produces exactly what the bill run produced before it was made set-based.

One seeded book (several operators and a reseller, prepaid/postpaid/validity cycles, VAT inclusive and exclusive on
the operator or the package, custom and zero prices, proration, waiting package changes, advance wallets that cover
a bill fully or partly, a reseller that cannot cover its wholesale debit, customers without a mobile, suspended and
free ones) is billed twice (a first run, then one a period later inside the prepaid lead window) by the reference
path below and, from the same state, by `billing.generate_bills`. Every row of every table the run writes is then
compared column by column; the sequences are rewound between the paths so ids match too, and ledger transaction
uuids (random) are compared as the groups they form.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from radbill.services import billing, payments
from radbill.tenancy import Scope
from tests import factories as f

T1 = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)
T2 = datetime(2024, 3, 28, 6, 0, tzinfo=UTC)  # inside the 7-day lead window of April for the prepaid day-1 cycle

TABLES = ("bills", "ledger_accounts", "ledger_entries", "outbox", "audit_log", "customers", "operators")

# radbill_enqueue as migration 0014 wrote it: the reference enqueues with the rule as it stood, row by row
ENQUEUE_0014 = """
CREATE FUNCTION pg_temp.enqueue_0014(p_kind text, p_operator_id bigint, p_payload jsonb, p_dedupe_key text)
    RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    IF p_kind IN ('disconnect', 'coa') AND p_payload ? 'acct_unique_id' THEN
        UPDATE outbox SET done_at = now(), result = jsonb_build_object('superseded_by', p_dedupe_key)
         WHERE payload ->> 'acct_unique_id' = p_payload ->> 'acct_unique_id'
           AND done_at IS NULL AND failed_at IS NULL
           AND kind IN ('coa', 'disconnect') AND (kind = 'coa' OR p_kind = 'disconnect')
           AND dedupe_key IS DISTINCT FROM p_dedupe_key;
    END IF;
    INSERT INTO outbox (kind, operator_id, payload, dedupe_key, destination)
    VALUES (p_kind, p_operator_id, p_payload, p_dedupe_key, radbill_outbox_destination(p_kind, p_payload))
    ON CONFLICT DO NOTHING
    RETURNING id INTO new_id;
    RETURN new_id;
END $$
"""

# the bill SMS as it was queued before (one radbill_enqueue call per bill, in bill id order)
QUEUE_BILLS_ONE_BY_ONE = """
    SELECT count(pg_temp.enqueue_0014('sms', b.operator_id,
                                      jsonb_build_object('event', 'bill_generated', 'customer_id', b.customer_id,
                                                         'bill_id', b.id, 'amount_minor', b.total_minor,
                                                         'currency', b.currency),
                                      'sms:bill_generated:' || b.id))
      FROM (SELECT b.* FROM bills b JOIN customers c ON c.id = b.customer_id
             WHERE b.id = ANY($1::bigint[]) AND c.mobile IS NOT NULL ORDER BY b.id) b
"""


# the candidates INSERT as it stood: the VAT lookup inlined (the planner re-ran it per candidate)
INSERT_INLINED_VAT = billing._INSERT_SQL.replace("), vat AS MATERIALIZED (", "), vat AS (")
assert INSERT_INLINED_VAT != billing._INSERT_SQL


async def generate_bills_reference(conn, now) -> int:
    """The bill run as it stood at ee15b8a, statement by statement (bench.billing times it beside the new one)."""
    async with conn.transaction():
        plan = await billing._plan(conn, now, None, None)
        ids = [r["id"] for r in await conn.fetch(INSERT_INLINED_VAT, *plan, now)]
        if ids:
            await conn.execute(billing._ACCOUNTS_SQL, ids)
            await conn.execute(billing._BILL_ENTRIES_SQL, ids)
            await billing.apply_advance(conn, ids, now)
            await conn.execute(QUEUE_BILLS_ONE_BY_ONE, ids)
    return len(ids)


async def seed(db) -> None:
    root = await f.operator(db, "group_admin", timezone="Asia/Dhaka")
    op = await f.operator(db, "operator", root["id"], timezone="Asia/Dhaka")
    op2 = await f.operator(db, "operator", root["id"], timezone="UTC")
    rich = await f.operator(db, "sub_operator", op["id"], timezone="Asia/Dhaka", credit_limit_minor=10**12)
    broke = await f.operator(db, "sub_operator", op["id"], timezone="Asia/Dhaka", credit_limit_minor=0)
    exclusive = await f.insert(db, "vat_profiles", {"operator_id": op["id"], "name": "VAT 15", "rate_basis_points": 1500})
    inclusive = await f.insert(db, "vat_profiles", {"operator_id": op2["id"], "name": "VAT 5", "rate_basis_points": 500,
                                                    "price_includes_vat": True})
    on_package = await f.insert(db, "vat_profiles", {"operator_id": op["id"], "name": "VAT 7.5",
                                                     "rate_basis_points": 750, "price_includes_vat": True})
    await db.execute("UPDATE operators SET vat_profile_id = $1 WHERE id = $2", exclusive["id"], op["id"])
    await db.execute("UPDATE operators SET vat_profile_id = $1 WHERE id = $2", inclusive["id"], op2["id"])
    pkgs = [await f.package(db, op["id"], price_minor=50000), await f.package(db, op["id"], price_minor=80000,
                                                                               vat_profile_id=on_package["id"]),
            await f.package(db, op["id"], price_minor=33333)]
    pkg2 = await f.package(db, op2["id"], price_minor=40001)
    for sub in (rich, broke):
        for i, p in enumerate(pkgs):
            await f.insert(db, "package_assignments", {"operator_id": sub["id"], "package_id": p["id"],
                                                       "wholesale_price_minor": 35000 + i,
                                                       "retail_price_minor": 60000 if i == 2 else None})
    profiles = [await f.billing_profile(db, op["id"], billing_day=1, billing_type="prepaid", due_days=7),
                await f.billing_profile(db, op["id"], billing_day=15, billing_type="postpaid", due_days=10),
                await f.billing_profile(db, op["id"], cycle_kind="validity_days", billing_day=None, validity_days=30,
                                        billing_type="prepaid", due_days=3)]
    profiles2 = [await f.billing_profile(db, op2["id"], billing_day=31, billing_type="postpaid", due_days=5),
                 await f.billing_profile(db, op2["id"], billing_type="free")]
    owners = [op["id"], rich["id"], broke["id"]]
    # 180 customers of the first operator's line, 40 of the second's, every combination cycling at its own pace
    await db.execute("""
        INSERT INTO customers (operator_id, username, radius_password, name, mobile, connection_type, package_id,
                               billing_profile_id, billing_anchor, custom_price_minor, status, next_package_id,
                               next_package_at)
        SELECT ($1::bigint[])[1 + n % 3], 'eq' || n, 'pw', 'Customer ' || n,
               CASE WHEN n % 5 <> 0 THEN '+8801' || lpad(n::text, 9, '0') END, 'pppoe',
               ($2::bigint[])[1 + n % 3], ($3::bigint[])[1 + (n / 3) % 3], DATE '2023-12-20' + (n * 7) % 95,
               CASE WHEN n % 7 = 0 THEN 12345 WHEN n % 29 = 0 THEN 0 END,
               CASE WHEN n % 11 = 0 THEN 'suspended' ELSE 'active' END,
               CASE WHEN n % 6 = 1 THEN ($2::bigint[])[1 + (n + 1) % 3] END,
               CASE WHEN n % 6 = 1 THEN TIMESTAMPTZ '2024-03-31 18:00+00' END
          FROM generate_series(1, 180) n""", owners, [p["id"] for p in pkgs], [p["id"] for p in profiles])
    await db.execute("""
        INSERT INTO customers (operator_id, username, radius_password, name, mobile, connection_type, package_id,
                               billing_profile_id, billing_anchor, custom_price_minor)
        SELECT $1, 'eq2_' || n, 'pw', 'Customer ' || n, '+8802' || lpad(n::text, 9, '0'), 'pppoe', $2,
               ($3::bigint[])[1 + n % 2], DATE '2024-01-05' + n, CASE WHEN n % 4 = 0 THEN 9999 END
          FROM generate_series(1, 40) n""", op2["id"], pkg2["id"], [p["id"] for p in profiles2])
    system = Scope.system(root["id"], str(root["path"]))
    wallets = await db.fetch("SELECT id FROM customers WHERE operator_id = ANY($1::bigint[]) AND username LIKE 'eq%'"
                             " ORDER BY id", owners + [op2["id"]])
    for i, c in enumerate(wallets[::4]):  # full, partial and two-period covers
        await payments.add_advance_payment(db, system, c["id"], (7000, 57500, 200000, 92000)[i % 4],
                                           now=datetime(2024, 3, 1, tzinfo=UTC))
    await db.execute("ANALYZE")


async def sequences(db) -> list:
    return await db.fetch("SELECT schemaname || '.' || sequencename AS name, last_value, start_value"
                          " FROM pg_sequences WHERE schemaname = 'public'")


async def rewind(db, seqs) -> None:
    """setval is not transactional: put every sequence back where it stood, so the second path gets the same ids."""
    for s in seqs:
        if s["last_value"] is None:
            await db.execute("SELECT setval($1, $2, false)", s["name"], s["start_value"])
        else:
            await db.execute("SELECT setval($1, $2, true)", s["name"], s["last_value"])


async def book(db) -> dict[str, list[dict]]:
    """Every row of every table the bill run writes, ledger transactions as the group of entry ids they form."""
    rows = {t: [dict(r) for r in await db.fetch(f"SELECT * FROM {t} ORDER BY id")] for t in TABLES}  # noqa: S608
    groups = {}
    for e in rows["ledger_entries"]:
        groups.setdefault(e["txn_id"], []).append(e["id"])
    for e in rows["ledger_entries"]:
        e["txn_id"] = tuple(groups[e["txn_id"]])
    return rows


async def run_path(db, run) -> tuple[list[int], dict]:
    tx = db.transaction()
    await tx.start()
    try:
        counts = [await run(db, T1), await run(db, T2), await run(db, T2)]
        return counts, await book(db)
    finally:
        await tx.rollback()


def differences(old: dict, new: dict) -> list[str]:
    found = []
    for table in TABLES:
        if len(old[table]) != len(new[table]):
            found.append(f"{table}: {len(old[table])} rows before, {len(new[table])} now")
        for a, b in zip(old[table], new[table], strict=False):
            found += [f"{table} #{a['id']}.{k}: {a[k]!r} before, {b.get(k)!r} now" for k in a if a[k] != b.get(k)]
    return found


async def test_the_set_based_bill_run_writes_what_the_reference_run_wrote(db):
    await seed(db)
    await db.execute(ENQUEUE_0014)
    seqs = await sequences(db)
    old_counts, old = await run_path(db, generate_bills_reference)
    await rewind(db, seqs)
    new_counts, new = await run_path(db, billing.generate_bills)
    await rewind(db, seqs)
    # the book is rich enough to mean something: both runs bill, the lead window bills again, nothing twice
    assert old_counts[0] > 150 and old_counts[1] > 100 and old_counts[2] == 0
    assert len(old["outbox"]) > 200 and any(e["kind"] == "advance_applied" for e in old["ledger_entries"])
    assert any(e["kind"] == "wholesale_debit" for e in old["ledger_entries"])
    assert any(b["vat_minor"] for b in old["bills"]) and any(b["cycle_days"] for b in old["bills"])
    assert (new_counts, differences(old, new)) == (old_counts, [])
    assert date(2024, 4, 1) in {b["period_start"] for b in new["bills"]}
