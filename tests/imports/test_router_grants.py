"""Router import for sub-operators: only from a router its operator granted to its login (audited, revocable);
and routers before RouterOS 6.43 (challenge login) are read like newer ones."""

from radbill import routeros
from tests.imports.test_mikrotik import PROFILES, SECRETS, add_router
from tests.routeros_server import RouterOSServer
from tests.support.imports import fetch


async def test_a_router_before_6_43_is_read_through_the_challenge_login():
    async with RouterOSServer(secrets=SECRETS, profiles=PROFILES, legacy_login=True) as router:
        data = await routeros.read_ppp("127.0.0.1", router.port, "api", "api-pass")
        assert [s["name"] for s in data.secrets] == ["karim", "selina", "fixed", "gone"]
        assert router.commands == ["/login", "/login", "/ppp/secret/print", "/ppp/profile/print"]
        try:
            await routeros.read_ppp("127.0.0.1", router.port, "api", "wrong")
            raise AssertionError("a wrong password must fail")
        except routeros.RouterError as exc:
            assert "refused the login" in str(exc)


async def test_a_sub_operator_imports_only_from_a_router_granted_to_its_login(make_client, catalog, fresh_db_url,
                                                                               tree):
    async with RouterOSServer(secrets=SECRETS, profiles=PROFILES) as router:
        nas = await add_router(fresh_db_url, tree.ops["op_a"]["id"], router.port)
        sub, other_sub = await make_client("suba1"), await make_client("suba2")
        assert "Read PPP secrets" not in await (await sub.get("/customers/import")).text()
        refused = await sub.post("/customers/import/mikrotik", {"nas_id": nas["id"]}, token_from="/customers/import")
        assert refused.status == 403 and "ask them to let your login import" in await refused.text()

        op = await make_client("opa")
        edit = f"/routers/{nas['id']}/edit"
        page = await (await op.get(edit)).text()
        assert "<td>suba1</td>" in page and "<td>suba2</td>" in page and "<td>opb</td>" not in page
        grant = {"account_id": tree.accounts["suba1"]["id"], "action": "grant"}
        assert (await op.post(f"/routers/{nas['id']}/import-grants", grant, token_from=edit)).status == 303
        # another operator can neither grant on this router nor grant this router to its own logins
        opb = await make_client("opb")
        assert (await opb.post(f"/routers/{nas['id']}/import-grants", grant, token_from="/routers")).status == 404
        foreign = {"account_id": tree.accounts["opb"]["id"], "action": "grant"}
        assert (await op.post(f"/routers/{nas['id']}/import-grants", foreign, token_from=edit)).status == 404

        start = await (await sub.get("/customers/import")).text()
        assert "core-1" in start and "Read PPP secrets" in start
        read = await sub.post("/customers/import/mikrotik", {"nas_id": nas["id"]}, token_from="/customers/import")
        assert read.status == 303 and read.headers["Location"].endswith("/map"), await read.text()
        assert (await other_sub.post("/customers/import/mikrotik", {"nas_id": nas["id"]},
                                     token_from="/customers/import")).status == 403

        revoke = {"account_id": tree.accounts["suba1"]["id"], "action": "revoke"}
        assert (await op.post(f"/routers/{nas['id']}/import-grants", revoke, token_from=edit)).status == 303
        again = await sub.post("/customers/import/mikrotik", {"nas_id": nas["id"]}, token_from="/customers/import")
        assert again.status == 403
    [batch] = await fetch(fresh_db_url, "SELECT operator_id, nas_id FROM import_batches")
    assert (batch["operator_id"], batch["nas_id"]) == (tree.ops["sub_a1"]["id"], nas["id"])
    audit = await fetch(fresh_db_url, "SELECT action, detail FROM audit_log WHERE action LIKE 'router.import_%'"
                                      " ORDER BY id")
    assert [a["action"] for a in audit] == ["router.import_grant", "router.import_revoke"]
    assert '"username": "suba1"' in audit[0]["detail"] and '"router": "core-1"' in audit[0]["detail"]
