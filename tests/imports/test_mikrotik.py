"""MikroTik: a local RouterOS-API server (the real sentence protocol) feeds the same review → import flow."""

import asyncpg

from radbill import routeros
from tests import factories as f
from tests.routeros_server import RouterOSServer
from tests.support.imports import fetch, wait_for_import

SECRETS = [
    {"name": "karim", "password": "12345", "profile": "10M", "service": "pppoe", "comment": "Karim Mia",
     "caller-id": "AA:BB:CC:00:00:01", "disabled": "false"},
    {"name": "selina", "password": "yes", "profile": "50M", "service": "any", "comment": "", "disabled": "false"},
    {"name": "fixed", "password": "p@ss w0rd", "profile": "10M", "service": "pppoe", "comment": "Fixed IP Ltd",
     "remote-address": "10.60.0.9", "disabled": "false"},
    {"name": "gone", "password": "x", "profile": "10M", "service": "pppoe", "disabled": "true"},
]
PROFILES = [{"name": "default", "rate-limit": ""}, {"name": "10M", "rate-limit": "5M/10M"},
            {"name": "50M", "rate-limit": "25M/50M"}]


async def add_router(url, operator_id, port, password="api-pass"):
    conn = await asyncpg.connect(url)
    try:
        return await f.insert(conn, "nas", {"nasname": "10.9.9.9", "shortname": "core-1", "secret": "s" * 32,
                                            "operator_id": operator_id, "api_host": "127.0.0.1", "api_port": port,
                                            "api_username": "api", "api_password": password})
    finally:
        await conn.close()


async def test_client_reads_secrets_exactly_and_says_why_it_cannot():
    async with RouterOSServer(secrets=SECRETS, profiles=PROFILES) as router:
        data = await routeros.read_ppp("127.0.0.1", router.port, "api", "api-pass")
        assert [s["password"] for s in data.secrets] == ["12345", "yes", "p@ss w0rd", "x"]  # not cast to int/bool
        assert data.profiles[1]["rate-limit"] == "5M/10M"
        assert router.commands == ["/login", "/ppp/secret/print", "/ppp/profile/print"]
        try:
            await routeros.read_ppp("127.0.0.1", router.port, "api", "wrong")
            raise AssertionError("a wrong password must fail")
        except routeros.RouterError as exc:
            assert "refused the login" in str(exc)
    try:
        await routeros.read_ppp("127.0.0.1", router.port, "api", "api-pass", wait_seconds=2)
        raise AssertionError("a closed port must fail")
    except routeros.RouterError as exc:
        assert "Cannot connect" in str(exc)


async def test_mikrotik_secrets_import_with_profiles_mapped_to_packages(make_client, catalog, fresh_db_url, tree):
    async with RouterOSServer(secrets=SECRETS, profiles=PROFILES) as router:
        nas = await add_router(fresh_db_url, tree.ops["op_a"]["id"], router.port)
        c = await make_client("opa")
        start = await (await c.get("/customers/import")).text()
        assert "core-1" in start and "Read PPP secrets" in start
        response = await c.post("/customers/import/mikrotik", {"nas_id": nas["id"]}, token_from="/customers/import")
        assert response.status == 303 and response.headers["Location"].endswith("/map"), response.headers
    map_path = response.headers["Location"]
    batch_id = int(map_path.split("/")[3])
    page = await (await c.get(map_path)).text()
    assert "1 disabled secrets left out" in page and "rate-limit 5M/10M" in page
    form = {"col_0": "name", "col_1": "username", "col_2": "radius_password", "col_3": "package",
            "col_4": "connection_type", "col_5": "static_ip", "col_6": "mac_address",
            "package_map_value_0": "10M", "package_map_0": catalog["pkg"]["id"],
            "package_map_value_1": "50M", "package_map_1": catalog["fast"]["id"],
            "default_billing_profile_id": catalog["profile"]["id"], "action": "review"}
    saved = await c.post(map_path, form, token_from=map_path)
    assert saved.status == 303, await saved.text()
    review = await (await c.get(f"/customers/import/{batch_id}/review")).text()
    assert "Import 3 customers" in review
    started = await c.post(f"/customers/import/{batch_id}/start", {"bill": "next"},
                           token_from=f"/customers/import/{batch_id}/review")
    assert started.status == 303
    batch = await wait_for_import(fresh_db_url, batch_id)
    assert (batch["status"], batch["created_count"]) == ("done", 3), batch["error"]
    rows = {r["username"]: r for r in await fetch(
        fresh_db_url, "SELECT username, name, radius_password, package_id, connection_type, host(static_ip) AS ip,"
                      " mac_address::text AS mac FROM customers WHERE username IN ('karim', 'selina', 'fixed')")}
    assert rows["karim"]["radius_password"] == "12345" and rows["karim"]["name"] == "Karim Mia"
    assert rows["karim"]["mac"] == "aa:bb:cc:00:00:01"
    assert rows["selina"]["radius_password"] == "yes" and rows["selina"]["package_id"] == catalog["fast"]["id"]
    assert rows["fixed"]["connection_type"] == "static" and rows["fixed"]["ip"] == "10.60.0.9"
    policy = await fetch(fresh_db_url, "SELECT username FROM radius_policy WHERE username = 'karim'")
    assert policy  # what the RADIUS module loads: karim can log in with the router's own password


async def test_router_import_needs_router_access_and_says_when_the_router_refuses(make_client, catalog,
                                                                                     fresh_db_url, tree):
    async with RouterOSServer(secrets=SECRETS, profiles=PROFILES) as router:
        nas = await add_router(fresh_db_url, tree.ops["op_a"]["id"], router.port, password="stale")
        sub = await make_client("suba1")
        assert "Read PPP secrets" not in await (await sub.get("/customers/import")).text()
        denied = await sub.post("/customers/import/mikrotik", {"nas_id": nas["id"]}, token_from="/customers/import")
        assert denied.status == 403
        other = await make_client("opb")
        missing = await other.post("/customers/import/mikrotik", {"nas_id": nas["id"]}, token_from="/customers/import")
        assert missing.status == 404  # another operator's router
        c = await make_client("opa")
        refused = await c.post("/customers/import/mikrotik", {"nas_id": nas["id"]}, token_from="/customers/import")
        assert refused.status == 303 and refused.headers["Location"] == "/customers/import"
        assert "refused the login" in await (await c.get("/customers/import")).text()
    assert (await fetch(fresh_db_url, "SELECT count(*) FROM import_batches"))[0]["count"] == 0
