"""Expired is a state people see: badge on the list and the profile, the status filter, a dashboard tile; and
an "online now" filter. The rule itself is tested in tests/policy/test_state.py."""

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests import factories as f


@pytest.fixture
async def expired_and_online(fresh_db_url, tree):
    """cust-a1's paid time ran out yesterday (status still 'active'); cust-a2 is paid up and online."""
    now = datetime.now(UTC)
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await conn.execute("UPDATE customers SET expires_at = $1 WHERE username = 'cust-a1'", now - timedelta(days=1))
        await conn.execute("UPDATE customers SET expires_at = $1 WHERE username = 'cust-a2'", now + timedelta(days=9))
        await f.insert(conn, "radacct", {"acctsessionid": "s2", "acctuniqueid": "u2", "username": "cust-a2",
                                         "nasipaddress": "10.0.2.1", "acctstarttime": now})
        await f.insert(conn, "radacct", {"acctsessionid": "s1", "acctuniqueid": "u1", "username": "cust-a1",
                                         "nasipaddress": "10.0.1.1", "acctstarttime": now - timedelta(days=2),
                                         "acctstoptime": now - timedelta(days=1)})  # closed: not online
    finally:
        await conn.close()


def listed(page: str) -> set[str]:
    return set(re.findall(r"<small>(cust-\w+)", page))


async def test_an_active_customer_past_expiry_shows_as_expired_everywhere(make_client, tree, expired_and_online):
    c = await make_client("opa")
    page = await (await c.get("/customers")).text()
    row_a1 = page[page.index("<small>cust-a1"):].split("</tr>")[0]
    row_a2 = page[page.index("<small>cust-a2"):].split("</tr>")[0]
    assert '<span class="status expired">expired</span>' in row_a1
    assert '<span class="status active">active</span>' in row_a2
    assert '<option value="expired" >expired</option>' in page and '<option value="1" >Online now</option>' in page
    profile = await (await c.get(f"/customers/{tree.customers['a1']['id']}")).text()
    assert re.search(r'<h1>Customer A1 <span class="status expired">expired</span>', profile)
    dashboard = await (await c.get("/")).text()
    assert '<b>1</b><span>expired</span>' in dashboard and '<b>1</b><span>active</span>' in dashboard
    assert 'href="/customers?status=expired"' in dashboard


@pytest.mark.parametrize("query, expected", [
    ("status=expired", {"cust-a1"}),
    ("status=active", {"cust-a2"}),  # expired is not active
    ("status=suspended", set()),
    ("online=1", {"cust-a2"}),  # only an open session counts
    ("online=1&status=expired", set()),
    ("status=bogus", {"cust-a1", "cust-a2"}),  # an unknown state filters nothing rather than failing
])
async def test_the_status_and_online_filters(make_client, expired_and_online, query, expected):
    c = await make_client("opa")
    response = await c.get(f"/customers?{query}")
    assert response.status == 200
    assert listed(await response.text()) == expected
