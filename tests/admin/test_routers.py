"""Routers (NAS) through the real admin: the secret is shown once and nowhere else; scoping; validation."""

import re

import asyncpg
import pytest

from radbill.errors import ValidationError
from radbill.services import routers

SECRET = re.compile(r'<code class="issued">([^<]+)</code>')
ROUTER = {"shortname": "core-1", "nasname": "192.0.2.10", "type": "mikrotik", "coa_port": "3799",
          "require_message_authenticator": "yes"}


async def _create(c, **changes):
    response = await c.post("/routers/new", {**ROUTER, **changes}, token_from="/routers/new")
    page = await response.text()
    assert response.status == 200, page
    return SECRET.search(page).group(1), page


async def _query(url, query, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def test_create_shows_the_secret_once_and_never_again(make_client, fresh_db_url):
    c = await make_client("opa")
    secret, page = await _create(c, api_host="192.0.2.10", api_port="8728", api_username="radbill",
                                 api_password="api-pass-123")
    assert len(secret) >= 32 and "Shown once" in page
    [row] = await _query(fresh_db_url, "SELECT id, secret, api_password FROM nas WHERE nasname = '192.0.2.10'")
    assert row["secret"] == secret and row["api_password"] == "api-pass-123"
    router_id = row["id"]

    listing = await (await c.get("/routers")).text()
    edit = await (await c.get(f"/routers/{router_id}/edit")).text()
    assert "core-1" in listing and "192.0.2.10" in edit
    for page in (listing, edit, await (await c.get("/audit")).text()):
        assert secret not in page and "api-pass-123" not in page
    details = " ".join(r["detail"] for r in await _query(fresh_db_url, "SELECT detail FROM audit_log"))
    assert secret not in details and "api-pass-123" not in details
    assert "router.create" in {r["action"] for r in await _query(fresh_db_url, "SELECT action FROM audit_log")}

    response = await c.post(f"/routers/{router_id}/secret", token_from=f"/routers/{router_id}/edit")
    renewed = SECRET.search(await response.text()).group(1)
    assert response.status == 200 and len(renewed) >= 32 and renewed != secret
    [row] = await _query(fresh_db_url, "SELECT secret FROM nas WHERE id = $1", router_id)
    assert row["secret"] == renewed
    for page in (await (await c.get("/routers")).text(), await (await c.get(f"/routers/{router_id}/edit")).text()):
        assert renewed not in page
    details = " ".join(r["detail"] for r in await _query(fresh_db_url, "SELECT detail FROM audit_log"))
    assert renewed not in details and secret not in details


async def test_api_password_is_write_only(make_client, fresh_db_url):
    c = await make_client("opa")
    await _create(c, api_host="192.0.2.10", api_password="first-pass")
    [row] = await _query(fresh_db_url, "SELECT id FROM nas WHERE nasname = '192.0.2.10'")
    path = f"/routers/{row['id']}/edit"
    assert "first-pass" not in await (await c.get(path)).text()
    # an empty password keeps the stored one; a failed save never echoes a typed one
    assert (await c.post(path, {**ROUTER, "api_host": "192.0.2.10", "api_password": ""}, token_from=path)).status == 303
    response = await c.post(path, {**ROUTER, "nasname": "nope", "api_host": "192.0.2.10",
                                   "api_password": "second-pass"}, token_from=path)
    assert response.status == 422 and "second-pass" not in await response.text()
    [row] = await _query(fresh_db_url, "SELECT api_password FROM nas WHERE nasname = '192.0.2.10'")
    assert row["api_password"] == "first-pass"
    await c.post(path, {**ROUTER, "api_host": "192.0.2.10", "api_password": "third-pass"}, token_from=path)
    await c.post(path, {**ROUTER, "api_host": "192.0.2.10", "clear_api_password": "1"}, token_from=path)
    [row] = await _query(fresh_db_url, "SELECT api_password FROM nas WHERE nasname = '192.0.2.10'")
    assert row["api_password"] is None
    details = " ".join(r["detail"] for r in await _query(fresh_db_url, "SELECT detail FROM audit_log"))
    assert "pass" not in details.replace("api_password", "")


async def test_duplicate_and_malformed_addresses_are_field_errors(make_client):
    c = await make_client("opa")
    # 10.0.3.1 belongs to Operator B: addresses are unique across the whole system
    for address, message in (("10.0.3.1", "already used by another router"),
                             ("10.0.1.1", "already used by another router"),
                             ("300.1.1.1", "Enter the router&#39;s IP address"), ("10.0.0.0/24", "IP address"),
                             ("0.0.0.0", "unicast"), ("", "IP address")):
        response = await c.post("/routers/new", {**ROUTER, "nasname": address}, token_from="/routers/new")
        page = await response.text()
        assert response.status == 422, address
        assert message in page and 'aria-invalid="true"' in page, address
        assert 'value="core-1"' in page  # what was typed is kept
    response = await c.post("/routers/new", {**ROUTER, "shortname": "bad name", "coa_port": "70000"},
                            token_from="/routers/new")
    page = await response.text()
    assert response.status == 422 and "1–64 letters" in page and "from 1 to 65535" in page


def test_addresses_are_normalised():
    assert routers.nas_address(" 2001:DB8::0001 ") == "2001:db8::1"
    assert routers.nas_address("127.0.0.1") == "127.0.0.1"
    with pytest.raises(ValueError):
        routers.nas_address("ff02::1")
    with pytest.raises(ValidationError) as caught:
        routers.router_values({**ROUTER, "api_username": "x"})
    assert "api_host" in caught.value.fields


async def test_ipv6_duplicate_in_another_spelling_is_refused(make_client):
    c = await make_client("opa")
    await _create(c, nasname="2001:db8::1")
    response = await c.post("/routers/new", {**ROUTER, "shortname": "core-2", "nasname": "2001:DB8:0::1"},
                            token_from="/routers/new")
    assert response.status == 422


async def test_message_authenticator_off_warns_about_blast_radius(make_client, fresh_db_url):
    c = await make_client("opa")
    await _create(c)
    [row] = await _query(fresh_db_url, "SELECT id FROM nas WHERE nasname = '192.0.2.10'")
    path = f"/routers/{row['id']}/edit"
    response = await c.post(path, {**ROUTER, "require_message_authenticator": "no"}, token_from=path)
    assert response.status == 303
    page = await (await c.get(path)).text()
    assert "Blast-RADIUS" in page and "CVE-2024-3596" in page
    assert "Blast-RADIUS risk" in await (await c.get("/routers")).text()
    [row] = await _query(fresh_db_url, "SELECT require_message_authenticator FROM nas WHERE id = $1", row["id"])
    assert row["require_message_authenticator"] is False


async def test_online_count_disable_enable_and_delete_only_without_open_sessions(make_client, fresh_db_url):
    c = await make_client("opa")
    await _create(c)
    [row] = await _query(fresh_db_url, "SELECT id FROM nas WHERE nasname = '192.0.2.10'")
    router_id = row["id"]
    await _query(fresh_db_url, "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress,"
                               " acctstarttime) VALUES ('s1', 'u1', 'cust-a1', '192.0.2.10', now())")
    listing = await (await c.get("/routers")).text()
    assert re.search(r'core-1</td>.*?<td class="num">1</td>', listing, re.S)
    await c.post(f"/routers/{router_id}/delete", token_from="/routers")
    assert "open sessions" in await (await c.get("/routers")).text()
    assert len(await _query(fresh_db_url, "SELECT 1 FROM nas WHERE id = $1", router_id)) == 1

    assert (await c.post(f"/routers/{router_id}/status", {"status": "disabled"}, token_from="/routers")).status == 303
    [row] = await _query(fresh_db_url, "SELECT status FROM nas WHERE id = $1", router_id)
    assert row["status"] == "disabled"
    await c.post(f"/routers/{router_id}/status", {"status": "active"}, token_from="/routers")

    await _query(fresh_db_url, "UPDATE radacct SET acctstoptime = now() WHERE acctuniqueid = 'u1'")
    assert (await c.post(f"/routers/{router_id}/delete", token_from="/routers")).status == 303
    assert not await _query(fresh_db_url, "SELECT 1 FROM nas WHERE id = $1", router_id)
    actions = [r["action"] for r in await _query(
        fresh_db_url, "SELECT action FROM audit_log WHERE object_kind = 'router' AND object_id = $1 ORDER BY id",
        router_id)]
    assert actions == ["router.create", "router.disable", "router.enable", "router.delete"]


async def test_foreign_router_ids_are_404_and_sub_operators_get_the_403_page(make_client, fresh_db_url):
    [row] = await _query(fresh_db_url, "SELECT id FROM nas WHERE nasname = '10.0.1.1'")  # Operator A's
    b = await make_client("opb")
    assert (await b.get(f"/routers/{row['id']}/edit")).status == 404
    assert (await b.get("/routers/999999/edit")).status == 404
    for action in ("edit", "secret", "status", "delete"):
        response = await b.post(f"/routers/{row['id']}/{action}", {**ROUTER, "status": "disabled"},
                                token_from="/routers")
        assert response.status == 404, action
    [after] = await _query(fresh_db_url, "SELECT secret, status, shortname FROM nas WHERE id = $1", row["id"])
    assert (after["secret"], after["status"], after["shortname"]) == ("s" * 32, "active", "nas-a1")
    assert "nas-a1" not in await (await b.get("/routers")).text()

    s = await make_client("suba1")
    for path in ("/routers", "/routers/new", f"/routers/{row['id']}/edit"):
        response = await s.get(path)
        page = await response.text()
        assert response.status == 403 and "Ask your parent operator" in page and "Routers (NAS)" in page
    assert (await s.post("/routers/new", ROUTER, token_from="/packages")).status == 403
    m = await make_client("mgr_none")
    assert (await m.get("/routers/new")).status == 403
    assert (await (await make_client("mgr_all")).get(f"/routers/{row['id']}/edit")).status == 200


async def test_the_router_type_is_chosen_from_the_router_types(make_client, fresh_db_url):
    c = await make_client("opa")
    form = await (await c.get("/routers/new")).text()
    for label in ("MikroTik (RouterOS)", "Cisco (IOS-XE / ASR BNG)", "Juniper (MX)", "Huawei (ME60 / NE)",
                  "accel-ppp", "Other / WISPr hotspot (CoovaChilli, pfSense)"):
        assert label in form
    response = await c.post("/routers/new", {**ROUTER, "type": "other"}, token_from="/routers/new")
    assert response.status == 422 and "Choose the router&#39;s type from the list." in await response.text()
    await _create(c, type="huawei")
    [row] = await _query(fresh_db_url, "SELECT id, type FROM nas WHERE nasname = '192.0.2.10'")
    assert row["type"] == "huawei"
    assert "Huawei (ME60 / NE)" in await (await c.get("/routers")).text()
    path = f"/routers/{row['id']}/edit"
    assert '<option value="huawei" selected>' in await (await c.get(path)).text()
    assert (await c.post(path, {**ROUTER, "type": "accel_ppp"}, token_from=path)).status == 303
    [row] = await _query(fresh_db_url, "SELECT type FROM nas WHERE id = $1", row["id"])
    assert row["type"] == "accel_ppp"
