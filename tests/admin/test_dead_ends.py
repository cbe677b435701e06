"""No dead ends: an empty package change says whom to ask; operator-menu URLs answer a page, never a bare 404.
(/webhooks is built now: it stays in the operator menu, and leaves PLANNED.)"""

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


@pytest.mark.parametrize(("login", "path"), [(login, path) for login in ("opa", "admin", "mgr_all")
                                             for path in PLANNED])
async def test_an_operator_gets_not_available_yet_for_a_capability_radbill_lacks(make_client, login, path):
    c = await make_client(login)
    response = await c.get(path)
    page = await response.text()
    assert response.status == 404
    assert f"{PLANNED[path]} is not available yet" in page
    assert "There is nothing here" not in page  # not the bare not-found page


async def test_the_403_page_lists_only_sections_that_exist(make_client):
    c = await make_client("suba1")
    page = await (await c.get("/whatsapp")).text()
    listed = page.split("you cannot open:")[1].split("</ul>")[0]
    for section in PLANNED.values():
        assert section not in listed
    assert operator_only_sections()
    for section in operator_only_sections():
        assert section in listed
    assert "Routers (NAS)" in listed and "IP pools" in listed


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
