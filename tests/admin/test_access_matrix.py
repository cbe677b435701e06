"""The role matrix holds on every page, and no foreign rows appear anywhere. These tests only read: they share one
world (database, ISP tree, admin app) for the module instead of building it again for each role."""

import asyncpg
import pytest
import pytest_asyncio

from admin.routing import REGISTRY
from tests.admin.test_access import expected_status

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROLES = ["admin", "opa", "suba1", "mgr_none", "mgr_all"]
# pages that need an id or only make sense in a login stage are covered by their own tests
SKIP = {"/login/totp", "/password/change", "/isp/logo/{operator_id:\\d+}"}
GET_ROUTES = [r for r in REGISTRY if r.method == "GET" and not r.access.public and r.path not in SKIP
              and "{" not in r.path]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def traces(module_db_url, module_tree):
    """A trace of every customer in the RADIUS log, so the log page has something to leak."""
    conn = await asyncpg.connect(module_db_url)
    try:
        await conn.execute("INSERT INTO radpostauth (username, reply, reason) SELECT username, 'Access-Accept', 'ok'"
                           " FROM customers")
    finally:
        await conn.close()


@pytest.mark.parametrize("login", ROLES)
async def test_role_matrix_for_every_page(module_client, login):
    c = await module_client(login)
    results = {}
    for route in GET_ROUTES:
        response = await c.get(route.path)
        results[route.path] = (response.status, expected_status(login, route))
    wrong = {path: got for path, got in results.items() if got[0] != got[1]}
    assert not wrong, f"{login}: (got, expected) {wrong}"


@pytest.mark.parametrize(("login", "visible", "hidden"), [
    ("suba1", ["cust-a1"], ["cust-a2", "cust-b"]),
    ("opa", ["cust-a1", "cust-a2"], ["cust-b"]),
    ("opb", ["cust-b"], ["cust-a1", "cust-a2"]),
    ("admin", ["cust-a1", "cust-a2", "cust-b"], []),
])
async def test_no_foreign_rows_on_any_page(traces, module_client, login, visible, hidden):
    c = await module_client(login)
    pages = []
    for route in GET_ROUTES:
        response = await c.get(route.path)
        if response.status == 200 and response.content_type == "text/html":
            pages.append(await response.text())
    everything = "\n".join(pages)
    for name in hidden:
        assert name not in everything, f"{login} sees {name}"
    if login != "suba1":
        for name in visible:
            assert name in everything, f"{login} should see {name} in the RADIUS log"
