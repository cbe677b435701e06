"""No dead ends: an empty package change says whom to ask; operator-menu URLs answer a page, never a bare 404.
(WhatsApp, API clients and webhooks are built now: they stay in the operator menu and left PLANNED, which is
empty; admin/views/planned.py keeps the mechanism for the next capability the menu names before it exists.)"""

import pytest

from admin.routing import operator_only_sections
from admin.views.planned import PLANNED

OPERATOR_MENU = ["/whatsapp", "/api-clients", "/webhooks", "/ip-pools", "/vat", "/payment-gateways"]


@pytest.mark.parametrize("path", OPERATOR_MENU)
async def test_a_sub_operator_gets_ask_your_parent_for_every_operator_capability(make_client, path):
    c = await make_client("suba1")
    response = await c.get(path)
    page = await response.text()
    assert response.status == 403, path
    assert "Ask your parent operator" in page


async def test_the_403_page_lists_only_sections_that_exist(make_client):
    c = await make_client("suba1")
    page = await (await c.get("/whatsapp")).text()
    listed = page.split("you cannot open:")[1].split("</ul>")[0]
    assert not PLANNED
    assert operator_only_sections()
    for section in operator_only_sections():
        assert section in listed
    assert "Routers (NAS)" in listed and "IP pools" in listed
    for built in ("WhatsApp", "API clients", "Webhooks"):
        assert built in listed


async def test_change_package_with_nothing_else_assigned_says_whom_to_ask(make_client, tree):
    c = await make_client("suba1")
    response = await c.get(f"/customers/{tree.customers['a1']['id']}/package")
    page = await response.text()
    assert response.status == 200
    assert "<select" not in page
    assert "Ask your parent operator to assign another package to you" in page


async def test_change_package_with_nothing_else_tells_an_operator_to_add_one(make_client, tree):
    c = await make_client("opb")
    page = await (await c.get(f"/customers/{tree.customers['b']['id']}/package")).text()
    assert "<select" not in page
    assert "Add one under Packages" in page
