"""The two rules defined once in SQL (sql/migrations/0019): an operator's line, and what an operator may sell."""

from __future__ import annotations

import pytest

from tests import factories as f


@pytest.fixture
async def tree(db):
    root = await f.operator(db, "group_admin")
    op = await f.operator(db, "operator", root["id"])
    sub = await f.operator(db, "sub_operator", op["id"])
    other = await f.operator(db, "operator", root["id"])
    return {"root": root, "op": op, "sub": sub, "other": other}


async def test_the_line_is_the_operator_and_its_ancestors_nearest_first(db, tree):
    rows = await db.fetch("SELECT operator_id, distance FROM radbill_line($1) ORDER BY distance", tree["sub"]["id"])
    assert [(r["operator_id"], r["distance"]) for r in rows] == [
        (tree["sub"]["id"], 0), (tree["op"]["id"], 1), (tree["root"]["id"], 2)]
    assert tree["other"]["id"] not in {r["operator_id"] for r in rows}


@pytest.mark.parametrize(("item", "owner", "seller", "assigned", "sellable"), [
    ("package", "op", "op", False, True),  # its own
    ("package", "root", "op", False, True),  # an operator sells its ancestors'
    ("package", "op", "sub", False, False),  # a sub-operator only what it is assigned
    ("package", "op", "sub", True, True),
    ("package", "other", "op", False, False),  # never a sibling's
    ("billing_profile", "root", "op", False, True),
    ("billing_profile", "op", "sub", False, False),
    ("billing_profile", "op", "sub", True, True),
    ("billing_profile", "other", "sub", False, False),
])
async def test_what_an_operator_may_sell(db, tree, item, owner, seller, assigned, sellable):
    owner_id, seller_id = tree[owner]["id"], tree[seller]["id"]
    if item == "package":
        row = await f.package(db, owner_id)
        if assigned:
            await f.insert(db, "package_assignments", {"operator_id": seller_id, "package_id": row["id"],
                                                       "wholesale_price_minor": 100})
    else:
        row = await f.billing_profile(db, owner_id)
        if assigned:
            await f.insert(db, "billing_profile_assignments", {"operator_id": seller_id,
                                                               "billing_profile_id": row["id"]})
    assert await db.fetchval("SELECT radbill_sellable($1, $2, $3)", item, row["id"], seller_id) is sellable
