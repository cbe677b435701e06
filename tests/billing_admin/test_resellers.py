"""Reseller balances: the parent sees and funds its sub-operators; both sides read the running statement."""

from tests.support.db import connect


async def test_operator_tops_up_sets_a_limit_and_both_sides_see_the_statement(make_client, tree, fresh_db_url):
    sub = tree.ops["sub_a1"]
    c = await make_client("opa")
    page = await (await c.get("/resellers")).text()
    assert "Reseller A1" in page and "Reseller A2" in page and "Operator B" not in page
    r = await c.post(f"/resellers/{sub['id']}/top-up", {"amount": "1,000", "note": "cash at office"},
                     token_from=f"/resellers/{sub['id']}")
    assert r.status == 303
    r = await c.post(f"/resellers/{sub['id']}/credit-limit", {"credit_limit": "250.00"},
                     token_from=f"/resellers/{sub['id']}")
    assert r.status == 303
    async with connect(fresh_db_url) as conn:
        row = await conn.fetchrow("SELECT balance_minor, credit_limit_minor FROM operators WHERE id = $1", sub["id"])
        await conn.execute("UPDATE operators SET balance_minor = balance_minor - 30000 WHERE id = $1", sub["id"])
    assert (row["balance_minor"], row["credit_limit_minor"]) == (100000, 25000)
    page = await (await c.get(f"/resellers/{sub['id']}")).text()
    assert "BDT 1,000.00" in page and "cash at office" in page and "Top up" in page

    own = await make_client("suba1")
    mine = await (await own.get("/balance")).text()
    assert "My balance" in mine and "BDT 1,000.00" in mine and "cash at office" in mine
    assert "Top up" not in mine  # a sub-operator cannot fund itself
    r = await own.post(f"/resellers/{sub['id']}/top-up", {"amount": "5"}, token_from="/balance")
    assert r.status == 403


async def test_a_limit_below_what_is_owed_and_bad_amounts_are_refused(make_client, tree, fresh_db_url):
    sub = tree.ops["sub_a1"]
    async with connect(fresh_db_url) as conn:
        await conn.execute("UPDATE operators SET credit_limit_minor = 50000, balance_minor = -40000 WHERE id = $1",
                           sub["id"])
    c = await make_client("opa")
    r = await c.post(f"/resellers/{sub['id']}/credit-limit", {"credit_limit": "100"},
                     token_from=f"/resellers/{sub['id']}")
    assert r.status == 422 and "owes more than this limit" in await r.text()
    r = await c.post(f"/resellers/{sub['id']}/top-up", {"amount": "-5"}, token_from=f"/resellers/{sub['id']}")
    assert r.status == 422


async def test_foreign_resellers_are_404(make_client, tree):
    sub = tree.ops["sub_a1"]
    other = await make_client("opb")
    assert (await other.get(f"/resellers/{sub['id']}")).status == 404
    r = await other.post(f"/resellers/{sub['id']}/top-up", {"amount": "5"}, token_from="/resellers")
    assert r.status == 404
    sibling = await make_client("suba2")
    assert (await sibling.get(f"/resellers/{sub['id']}")).status == 404
    opa = await make_client("opa")  # an operator is not a sub-operator: no statement page for it
    assert (await opa.get(f"/resellers/{tree.ops['op_a']['id']}")).status == 404
