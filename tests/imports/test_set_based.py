"""The set-based import leaves exactly the rows the one-by-one path (create_customer per row) leaves.

One seeded database is copied (CREATE DATABASE ... TEMPLATE), the same file is imported into each copy, once
through run_import(one_by_one=True) and once set-based, and then EVERY table of both is compared row by row,
column by column (timestamps, random transaction ids and generated passwords aside).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import UTC, datetime

import asyncpg
import pytest

from radbill import importing
from radbill.db.pool import create_pool, scoped
from radbill.services import imports
from radbill.tenancy import Scope
from tests import factories as f
from tests.support.admin import build_tree

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FIELDS = [fld.key for fld in importing.FIELDS]


def row(**cells) -> list[str]:
    return [cells.get(key, "") for key in FIELDS]


def a_file() -> bytes:
    """Valid rows and rows refused for several reasons, at review (skipped) or when saving (failed)."""
    ok = {"zone": "North", "package": "Home 10", "billing_profile": "Prepaid A", "radius_password": "secret-1"}
    rows = [
        row(name="Valid One", username="set001", mobile="01711000001", **ok),
        row(name="Generated Password", username="set002", mobile="01711000002", **{**ok, "radius_password": ""}),
        row(name="Bad Mobile", username="set003", mobile="12345", **ok),
        row(name="Dup In File", username="SET001", **ok),
        row(name="Taken In DB", username="cust-a1", **ok),
        row(name="Unknown Package", username="set006", **{**ok, "package": "Gold 99"}),
        row(name="Bad IP", username="set007", connection_type="static", static_ip="10.0.0.300", **ok),
        row(name="Static One", username="set008", connection_type="static", static_ip="10.9.0.5", **ok),
        row(name="Static Twice", username="set009", connection_type="static", static_ip="10.9.0.5", **ok),
        row(name="Static Taken", username="set010", connection_type="static", static_ip="10.9.0.9", **ok),
        row(name="Wrong Type", username="set011", connection_type="hotspot",
            **{**ok, "package": "PPPoE Only"}),
        row(name="Priced", username="set012", custom_price="450.50", mac_address="AA:BB:CC:00:11:22",
            simultaneous_use="2", email="p@example.net", address="House 12", national_id="1234567890", **ok),
        row(name="Postpaid", username="set013", mobile="01711000013",
            **{**ok, "billing_profile": "Monthly A", "zone": "South", "package": "Fast 50"}),
        row(name="Dup Mobile", username="set014", mobile="01711000001", **ok),
        row(name="", username="set015", **ok),
    ]
    return as_csv(rows)


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([[fld.label for fld in importing.FIELDS], *rows])
    return out.getvalue().encode()


def pooled_file() -> bytes:
    """Rows taking the next free address of two pools (Beta runs out midway) and of a third pool overlapping the
    first, between rows that type an address and rows refused for other reasons."""
    ok = {"zone": "North", "package": "Home 10", "billing_profile": "Prepaid A", "radius_password": "secret-1"}
    rows = [
        row(name="Alpha First", username="set101", ip_pool="Alpha", **ok),
        row(name="Typed In Alpha", username="set102", static_ip="10.9.0.11", **ok),
        row(name="Alpha Second", username="set103", ip_pool="alpha", **ok),
        row(name="Beta First", username="set104", ip_pool="Beta", **ok),
        row(name="Beta Unsold", username="set105", ip_pool="Beta", **{**ok, "package": "PPPoE Only"}),
        row(name="Delta First", username="set106", ip_pool="Delta", **ok),
        row(name="Typed Taken", username="set107", static_ip="10.9.0.12", **ok),
        row(name="Beta Second", username="set108", ip_pool="Beta", **ok),
        row(name="Beta Full", username="set109", ip_pool="Beta", **ok),
        row(name="Alpha Full", username="set110", ip_pool="Alpha", **ok),
        row(name="Delta Second", username="set111", ip_pool="Delta", **ok),
        row(name="No Such Pool", username="set112", ip_pool="Gamma", **ok),
        row(name="Typed Wins", username="set113", static_ip="10.9.0.20", ip_pool="Beta", **ok),
        row(name="Beta Still Full", username="set114", ip_pool="Beta", **ok),
    ]
    return as_csv(rows)


async def seed(conn) -> dict[str, Scope]:
    tree = await build_tree(conn)
    op_a, sub = tree.ops["op_a"], tree.ops["sub_a1"]
    for name, types in (("Home 10", None), ("Fast 50", None), ("PPPoE Only", ["pppoe"])):
        pkg = await f.package(conn, op_a["id"], name=name, **({"connection_types": types} if types else {}))
        await f.insert(conn, "package_assignments", {"operator_id": sub["id"], "package_id": pkg["id"],
                                                     "wholesale_price_minor": 30000})
    for name, kind in (("Monthly A", "postpaid"), ("Prepaid A", "prepaid")):
        profile = await f.billing_profile(conn, op_a["id"], name=name, billing_type=kind)
        await f.insert(conn, "billing_profile_assignments", {"operator_id": sub["id"],
                                                             "billing_profile_id": profile["id"]})
    for zone in ("North", "South"):
        await f.insert(conn, "zones", {"operator_id": op_a["id"], "name": zone})
    await conn.execute("UPDATE customers SET connection_type = 'static', static_ip = '10.9.0.9'"
                       " WHERE username = 'cust-b'")
    # Alpha holds 10.9.0.9 (another operator's customer) and 10.9.0.10 (an open session); sub_a1's own Delta
    # overlaps Alpha's end (pools of different operators may)
    for owner, name, first, last in ((op_a, "Alpha", "10.9.0.8", "10.9.0.13"), (op_a, "Beta", "10.40.0.1",
                                                                                  "10.40.0.2"),
                                     (sub, "Delta", "10.9.0.12", "10.9.0.14")):
        await f.insert(conn, "ip_pools", {"operator_id": owner["id"], "name": name, "start_ip": first, "end_ip": last})
    await f.insert(conn, "radacct", {"acctsessionid": "s1", "acctuniqueid": "u1", "username": "cust-a1",
                                     "nasipaddress": "10.0.1.1", "acctstarttime": datetime.now(UTC),
                                     "framedipaddress": "10.9.0.10"})
    return {login: Scope(account_id=tree.accounts[login]["id"], operator_id=tree.ops[op]["id"],
                         path=await conn.fetchval("SELECT path::text FROM operators WHERE id = $1", tree.ops[op]["id"]),
                         role=role)
            for login, op, role in (("suba1", "sub_a1", "sub_operator"), ("opa", "op_a", "operator"))}


@pytest.fixture(scope="module")
def seeded(pg_server):
    """A seeded database to copy from (module-wide: seeding once is most of the cost)."""
    import asyncio

    name = f"radbill_setseed{os.getpid()}"
    url = pg_server.create_database(name)

    async def go():
        conn = await asyncpg.connect(url)
        try:
            return await seed(conn)
        finally:
            await conn.close()

    scopes = asyncio.run(go())
    yield pg_server, name, scopes
    pg_server.drop_database(name)


async def import_into(url: str, scope: Scope, bill: bool, one_by_one: bool, data: bytes | None = None) -> dict:
    pool = await create_pool(url, max_size=2)
    try:
        # the connections carry the importing login's scope, as the admin's do: the pools it may use are in it
        with scoped(scope.path):
            return await _import(pool, scope, bill, one_by_one, data or a_file())
    finally:
        await pool.close()


async def _import(pool, scope: Scope, bill: bool, one_by_one: bool, data: bytes) -> dict:
    async with pool.acquire() as conn:
        batch_id = await imports.create_batch(conn, scope, importing.read_table(data, "c.csv"),
                                              filename="c.csv")
        batch = await imports.get_batch(conn, scope, batch_id)
        mapping, defaults = imports.batch_mapping(batch)
        assert await imports.save_mapping(conn, scope, batch_id, mapping, defaults) == []
        await imports.start_import(conn, scope, batch_id, bill=bill)
    await imports.run_import(pool, scope, batch_id, one_by_one=one_by_one)
    async with pool.acquire() as conn:
        done = await conn.fetchrow("SELECT status, error, created_count, failed_count FROM import_batches"
                                   " WHERE id = $1", batch_id)
    assert done["status"] == "done", dict(done)
    return dict(done)


async def roll_back(url: str, scope: Scope) -> None:
    conn = await asyncpg.connect(url)
    try:
        batch_id = await conn.fetchval("SELECT max(id) FROM import_batches")
        await imports.rollback_batch(conn, scope, batch_id)
    finally:
        await conn.close()


def _normal(value):
    if isinstance(value, str) and (TIMESTAMP.match(value) or UUID.match(value)):
        return "<volatile>"
    return value


async def dump(url: str) -> dict[str, list[str]]:
    """Every public table's rows as sorted JSON, timestamps/uuids masked and generated passwords too."""
    conn = await asyncpg.connect(url)
    try:
        # a batch opens the new customers' ledger accounts in one statement (ordered by kind): their ids differ
        # from the one-by-one order, so accounts are named by what they are, and entries point at those names
        accounts = {r["id"]: f"{r['kind']}/{r['operator_id']}/{r['customer_id']}/{r['currency']}"
                    for r in await conn.fetch("SELECT * FROM ledger_accounts")}
        # the dashboard's counters (0049) get a delta row per statement: one by one writes more of them, with the
        # same sums; folded, both paths must leave the same rows
        await conn.execute("SELECT radbill_compact_dashboard()")
        out = {}
        for table in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"):
            rows = await conn.fetch(f'SELECT to_jsonb(t)::text FROM public."{table[0]}" t')  # noqa: S608 - catalog names
            normal = []
            for (text,) in rows:
                data = json.loads(text)
                if table[0] == "customers" and data["username"] == "set002":
                    assert len(data["radius_password"]) >= 8
                    data["radius_password"] = "<generated>"
                if table[0] == "ledger_accounts":
                    data["id"] = accounts[data["id"]]
                if "account_id" in data and table[0].startswith("ledger_"):
                    data["account_id"] = accounts.get(data["account_id"], data["account_id"])
                normal.append(json.dumps({k: _normal(v) for k, v in data.items()}, sort_keys=True))
            out[table[0]] = sorted(normal)
        return out
    finally:
        await conn.close()


@pytest.mark.parametrize(("login", "bill"), [("suba1", True), ("opa", False)])
async def test_set_based_import_leaves_the_same_rows_as_one_by_one(seeded, login, bill):
    server, template, scopes = seeded
    urls = {}
    for path in ("one", "set"):
        name = f"radbill_set{path}{os.getpid()}"
        server.drop_database(name)
        urls[path] = server.create_database(name, template=template)
    try:
        for path in ("one", "set"):
            done = await import_into(urls[path], scopes[login], bill, one_by_one=path == "one")
            assert done["created_count"] >= 4 and done["failed_count"] == 3, done
        one, set_based = await dump(urls["one"]), await dump(urls["set"])
        assert one.keys() == set_based.keys()
        for table in one:
            assert one[table] == set_based[table], table
        created = [json.loads(r) for r in one["customers"] if json.loads(r)["username"].startswith("set")]
        assert len(created) == 5
        failures = {json.loads(r)["username"]: json.loads(r)["detail"] for r in one["import_batch_items"]
                    if json.loads(r)["status"] == "failed"}
        assert set(failures) == {"set009", "set010", "set011"}, failures
        assert failures["set011"] == {"package_id": "Package PPPoE Only is not sold for hotspot connections."}
        assert failures["set009"] == {"static_ip": "Another customer already uses this address."}
        new_ids = {c["id"] for c in created}
        billed = [b for b in map(json.loads, one["bills"]) if b["customer_id"] in new_ids]
        assert (len(billed) >= 4) if bill else billed == [], billed
        # and a rollback treats both alike (billed customers stay, the rest go)
        for path in ("one", "set"):
            await roll_back(urls[path], scopes[login])
        one, set_based = await dump(urls["one"]), await dump(urls["set"])
        for table in one:
            assert one[table] == set_based[table], f"{table} after rollback"
        left = [json.loads(r)["username"] for r in one["customers"] if json.loads(r)["username"].startswith("set")]
        assert len(left) == len({b["customer_id"] for b in billed}), left
    finally:
        for path in ("one", "set"):
            server.drop_database(f"radbill_set{path}{os.getpid()}")


def _copies(server, template: str) -> dict[str, str]:
    urls = {}
    for path in ("one", "set"):
        name = f"radbill_set{path}{os.getpid()}"
        server.drop_database(name)
        urls[path] = server.create_database(name, template=template)
    return urls


@pytest.mark.parametrize(("login", "bill"), [("suba1", True), ("opa", False)])
async def test_pooled_rows_get_the_same_addresses_and_refusals_both_ways(seeded, login, bill):
    server, template, scopes = seeded
    urls = _copies(server, template)
    try:
        for path in ("one", "set"):
            done = await import_into(urls[path], scopes[login], bill, one_by_one=path == "one", data=pooled_file())
            assert (done["created_count"], done["failed_count"]) == (8, 5), done
        one, set_based = await dump(urls["one"]), await dump(urls["set"])
        for table in one:
            assert one[table] == set_based[table], table
        addresses = {c["username"]: c["static_ip"] for c in map(json.loads, one["customers"])
                     if c["username"].startswith("set")}
        # lowest free first: past other customers' addresses, open sessions and addresses typed by earlier rows
        assert addresses == {"set101": "10.9.0.8", "set102": "10.9.0.11", "set103": "10.9.0.12",
                             "set104": "10.40.0.1", "set106": "10.9.0.13", "set108": "10.40.0.2",
                             "set111": "10.9.0.14", "set113": "10.9.0.20"}, addresses
        failures = {i["username"]: i["detail"] for i in map(json.loads, one["import_batch_items"])
                    if i["status"] == "failed"}
        full = "Pool %s has no free address left; choose another pool or enter an address."
        assert failures == {
            "set105": {"package_id": "Package PPPoE Only is not sold for static connections."},
            "set107": {"static_ip": "Another customer already uses this address."},
            "set109": {"static_pool": full % "Beta"}, "set110": {"static_pool": full % "Alpha"},
            "set114": {"static_pool": full % "Beta"}}, failures
        audited = [a["detail"] for a in map(json.loads, one["audit_log"])
                   if a["action"] == "create" and a["object_kind"] == "customer"]
        assert {"10.9.0.8", "10.40.0.2"} <= {a.get("static_ip") for a in audited}
    finally:
        for path in ("one", "set"):
            server.drop_database(f"radbill_set{path}{os.getpid()}")
