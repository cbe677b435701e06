"""The customer search (migration 0053: matches ranked by radbill_customer_search, the page stops when full, the
trigram index asked for the rarest piece of the text) finds the same rows in the same order as the search before it
(tests/services/search_reference.py), for every scope, a varied set of texts, filters, pages and cursors.

The database is analysed, so the statistics that pick the piece exist: "Customer 12" is looked up as " 12"."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from radbill.db.pool import set_scope
from radbill.services import customer_records
from radbill.tenancy import Scope
from tests import factories as f
from tests.services.search_reference import search_reference
from tests.support.db import app_url, radius_url

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
NAMES = ["Md Rahim Uddin", "Karim", "Nasrin Akter", "Rahima Begum", "a_b 100%", "back\\slash", "রহিম মিয়া",
         "Customer", "RAHIM"]
TEXTS = ["Customer 12", "customer 1", "Customer 2041", "ustomer 33", "706", "u70", "U706X", "rahim", "Md Rahim",
         "01710000012", "017 1000 0012", "_", "a_b", "\\", "100%", "Customer", "12", "রহিম", "1", "Nobody here"]


async def _seed(url: str) -> dict:
    """2,000 customers over a group, an operator with a sub-operator, and a second operator; most named
    "Customer N" (so its trigrams are common), some with other names, mobiles, usernames that prefix others."""
    rng = random.Random(53)
    conn = await asyncpg.connect(url)
    try:
        root = await f.operator(conn, "group_admin")
        ops = [await f.operator(conn, "operator", root["id"]) for _ in range(2)]
        sub = await f.operator(conn, "sub_operator", ops[0]["id"])
        owners = [ops[0]["id"], ops[1]["id"], sub["id"], sub["id"]]
        pkgs = {o["id"]: await f.package(conn, o["id"]) for o in ops}
        profiles = {o["id"]: await f.billing_profile(conn, o["id"]) for o in ops}
        rows = []
        for n in range(1, 2001):
            owner = rng.choice(owners)
            parent = ops[0]["id"] if owner == sub["id"] else owner
            name = f"Customer {n}" if rng.random() < 0.8 else rng.choice(NAMES)
            username = rng.choice([f"u{n}", f"u{n}x", str(n), f"{n % 800}", f"U{n}X", f"c.{n}"])
            rows.append((owner, f"{username}-{n}" if rng.random() < 0.3 else username, f"pw{n}", name,
                         f"+88017{n:08d}" if rng.random() < 0.7 else None, pkgs[parent]["id"],
                         profiles[parent]["id"], rng.choice(["active", "active", "active", "suspended", "disabled"]),
                         NOW + timedelta(days=rng.randint(-20, 20))))
        await conn.execute(
            "INSERT INTO customers (operator_id, username, radius_password, name, mobile, connection_type,"
            " package_id, billing_profile_id, status, expires_at)"
            " SELECT o, u, p, n, m, 'pppoe', k, b, s, e FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
            "   $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::timestamptz[]) AS t(o, u, p, n, m, k, b, s, e)"
            " ON CONFLICT DO NOTHING", *map(list, zip(*rows, strict=True)))
        # exact usernames the texts hit: "706" exact (rank 1), "706x" a prefix match (rank 2)
        for username in ("706", "706x", "u706x"):
            await conn.execute("UPDATE customers SET username = $1 WHERE id = (SELECT min(id) FROM customers"
                               " WHERE username <> ALL ('{706,706x,u706x}') AND id > 1000)", username)
        await conn.execute("ANALYZE customers")
        return {"group admin": Scope(None, root["id"], root["path"], "group_admin"),
                "operator": Scope(None, ops[0]["id"], ops[0]["path"], "operator"),
                "sub-operator": Scope(None, sub["id"], sub["path"], "sub_operator")}
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def world(pg_server):
    url = pg_server.create_database("radbill_search_equal")
    yield url, asyncio.run(_seed(url))
    pg_server.drop_database("radbill_search_equal")


def _page(rows) -> list[tuple]:
    return [(r["rank"], r["id"], r["state"], r["online"]) for r in rows]


@pytest.mark.parametrize("label", ["group admin", "operator", "sub-operator"])
async def test_the_search_finds_what_the_reference_finds_in_the_same_order(world, label):
    url, scopes = world
    scope = scopes[label]
    conn = await asyncpg.connect(app_url(url))
    try:
        await set_scope(conn, scope.path)
        compared = found = 0
        for text in TEXTS:
            for status in (None, "active", "expired"):
                cursor = None
                for page in (1, 2):
                    params = {"query": text, "status": status, "now": NOW, "limit": 7}
                    mine = await customer_records.search(conn, scope, page=page, **params)
                    truth = await search_reference(conn, scope, page=page, **params)
                    assert (_page(mine[0]), mine[1]) == (_page(truth[0]), truth[1]), (text, status, page)
                    by_cursor = await customer_records.search(conn, scope, after=cursor, **params)
                    assert _page(by_cursor[0]) == _page(truth[0]), (text, status, page, cursor)
                    compared += 1
                    found += len(truth[0])
                    if not truth[1]:
                        break
                    cursor = (truth[0][-1]["rank"], truth[0][-1]["id"])
        assert compared > len(TEXTS) * 3 and found > 200, (compared, found)
    finally:
        await conn.close()


async def test_the_index_is_asked_for_a_rare_piece_of_the_text_and_only_ever_a_piece(world):
    url, _ = world
    conn = await asyncpg.connect(url)
    try:
        key = "SELECT radbill_customer_search_key($1)"
        for text in ("Customer 12", "Customer 2041"):  # "customer" is in most rows: the piece is the number's end
            piece = await conn.fetchval(key, text)
            assert piece.endswith(text.split()[1] + "%") and "cus" not in piece.lower(), piece
        assert await conn.fetchval(key, "Nasrin") is None  # every trigram is rare: the whole text
        assert await conn.fetchval(key, "রহিম Customer 12") is None  # not plain ASCII: the whole text
        assert await conn.fetchval(key, "12") is None
        assert await conn.fetchval(key, "Customer 12 " * 10) is None  # over 100 characters
        for text in TEXTS + ["Customer 1_2%", "Customer 1\\2", "xCustomer 7"]:
            piece = await conn.fetchval(key, text)
            if piece is not None:
                assert piece.startswith("%") and piece.endswith("%") and len(piece) >= 5, (text, piece)
                literal = piece[1:-1].replace("\\%", "%").replace("\\_", "_").replace("\\\\", "\\")
                assert literal.lower() in text.lower(), (text, piece)
    finally:
        await conn.close()


async def test_search_candidates_come_only_from_the_callers_scope(world):
    url, scopes = world
    owner = await asyncpg.connect(url)
    app = await asyncpg.connect(app_url(url))
    try:
        for scope in scopes.values():
            await set_scope(app, scope.path)
            found = {r["id"] for r in await app.fetch(
                "SELECT id FROM radbill_customer_search('%Customer 1%', 'Customer 1', 'customer 1', 1, NULL)")}
            truth = {r["id"] for r in await owner.fetch(
                "SELECT c.id FROM customers c JOIN operators o ON o.id = c.operator_id"
                " WHERE o.path <@ $1::ltree AND ((c.name || ' ' || c.username || ' ' || coalesce(c.mobile, ''))"
                "   ILIKE '%r 1%' OR c.id = 1)", scope.path)}
            assert found and found <= truth, scope.role
            filtered = set(await app.fetchval(
                "SELECT radbill_customer_found('%Customer 1%', 'Customer 1', 'customer 1', 1, NULL)"))
            assert filtered and filtered <= found, scope.role
        await app.execute("SELECT set_config('radbill.scope_path', '', false)")
        assert await app.fetchval("SELECT count(*) FROM radbill_customer_search('%1%', '1', '1', 1, NULL)") == 0
    finally:
        await owner.close()
        await app.close()


async def test_only_the_app_may_call_the_search_functions(world):
    url, _ = world
    conn = await asyncpg.connect(radius_url(url))
    try:
        for sql in ("SELECT radbill_customer_search('%a%', 'a', 'a', NULL, NULL)",
                    "SELECT radbill_customer_search_key('Customer 12')",
                    "SELECT radbill_customer_found('%a%', 'a', 'a', NULL, NULL)"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval(sql)
    finally:
        await conn.close()


@pytest.mark.parametrize("label", ["group admin", "sub-operator"])
async def test_lists_that_filter_by_customer_find_the_customers_the_search_finds(world, label):
    """Tickets, bills, payments and a manual bill run filter by customer text with ScopedWhere.customer: the
    same customers as the customer list's search (customers_for_generation is that filter alone)."""
    from radbill.services import reports

    url, scopes = world
    scope = scopes[label]
    conn = await asyncpg.connect(app_url(url))
    try:
        await set_scope(conn, scope.path)
        for text in TEXTS:
            listed, more = await customer_records.search(conn, scope, query=text, now=NOW, limit=5000)
            assert not more
            filtered = await reports.customers_for_generation(conn, scope, text)
            assert sorted(filtered) == sorted(r["id"] for r in listed), text
    finally:
        await conn.close()


def test_every_customer_text_search_asks_the_one_search_function():
    """One rule in one place: the product finds customers by text only through radbill_customer_search
    (ScopedWhere.customer_search and .customer); the older radbill_customer_matches (0021) stays in the schema
    for tests/services/search_reference.py only."""
    root = Path(__file__).resolve().parents[2]
    offenders = [str(path.relative_to(root)) for package in ("radbill", "admin", "portal", "scheduler")
                 for path in (root / package).rglob("*.py") if "radbill_customer_matches" in path.read_text()]
    assert offenders == []
