"""Every form route the router declares, fed oversized, empty, control-character and wrong-type values by each
role that may use it (valid session and CSRF token): never a 5xx, and nothing stored changes.

The routes come from the registry, so a route added tomorrow is covered the day it is added; the fields come
from the forms the admin itself renders for that action (plus a few common names when no form posts there).
"""

import json
import re

import asyncpg
import pytest

from admin.routing import REGISTRY
from radbill.errors import constraint_field, validation_error_from_database
from tests.admin.test_access import ROLE_OF

BAD_VALUES = {
    "oversized": "x" * 10_000,
    "empty": "",
    "control": "a\x00b\x01\x1b[2J\u202e",
    "wrong_type": "-1e999",
    "huge_number": "9" * 40,
}
# No field accepts these, so a form sent with every field set to one must change nothing. (Empty, "-1e999" or
# forty nines are valid for some fields: an optional address, a zone name, "all operators"; for those the test
# asserts only that the answer is not a 5xx.) A route whose form has no fields is a plain action (delete, new
# secret) and changes by design.
NEVER_VALID = {"oversized", "control"}
# the import wizard keeps the user's (incomplete) mapping as a draft and lists what to fix, by design
KEEPS_DRAFTS = {"/customers/import/{batch_id:\\d+}/map"}
# login stages, the session itself and the machine callback have tests of their own
SKIP = {"/login", "/logout", "/login/totp", "/password/change", "/profile/2fa/start"}
FALLBACK_FIELDS = {"name", "username", "full_name", "amount", "status", "reason", "note", "price", "operator_id"}
# writes that legitimately happen without a valid change (sessions, the audit trail, throttling)
UNTRACKED = {"admin_sessions", "audit_log", "login_attempts"}
_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_FIELD = re.compile(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"')
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


async def _ids(conn, tree) -> dict[str, int]:
    """One object of each kind inside operator A's subtree (every tested role can reach it or gets 403/404)."""
    op_a, sub_a1 = tree.ops["op_a"]["id"], tree.ops["sub_a1"]["id"]
    zone = await conn.fetchval("INSERT INTO zones (operator_id, name) VALUES ($1, 'Fuzz zone') RETURNING id", op_a)
    gateway = await conn.fetchval("INSERT INTO sms_gateways (operator_id, name, kind) VALUES ($1, 'Fuzz', 'log')"
                                  " RETURNING id", op_a)
    batch = await conn.fetchval(
        "INSERT INTO import_batches (operator_id, source, headers, rows, total) VALUES ($1, 'file', $2, $3, 1)"
        " RETURNING id", sub_a1, json.dumps(["Name"]), json.dumps([[2, ["Fuzz"]]]))
    customer = tree.customers["a1"]
    return {"customer_id": customer["id"], "operator_id": sub_a1, "account_id": tree.accounts["suba1"]["id"],
            "package_id": customer["package_id"], "profile_id": customer["billing_profile_id"], "zone_id": zone,
            "router_id": await conn.fetchval("SELECT id FROM nas WHERE operator_id = $1 LIMIT 1", op_a),
            "gateway_id": gateway, "batch_id": batch}


def _concrete(path: str, ids: dict[str, int]) -> str:
    return _PARAM.sub(lambda m: str(ids.get(m.group(1), 1)), path)  # no bill or payment yet: 404 pages


async def _forms(client, pages: list[str]) -> dict[str, set[str]]:
    """action -> the field names of every form the admin renders that posts there."""
    found: dict[str, set[str]] = {}
    for path in pages:
        response = await client.get(path)
        if response.status != 200 or response.content_type != "text/html":
            continue
        for action, body in _FORM.findall(await response.text()):
            found.setdefault(action.split("?")[0], set()).update(_FIELD.findall(body))
    return found


async def _checksum(conn) -> dict[str, str]:
    tables = [r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
              if r["tablename"] not in UNTRACKED]
    query = " UNION ALL ".join(
        f"SELECT '{t}' AS t, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS sum FROM {t} x"
        for t in tables)
    return {r["t"]: r["sum"] for r in await conn.fetch(query)}


def _may_use(login: str, route) -> bool:
    return ROLE_OF[login] in route.access.roles and "full" in route.access.stages


POST_ROUTES = [r for r in REGISTRY if r.method == "POST" and not r.access.public and r.path not in SKIP]


@pytest.mark.parametrize("login", ["admin", "opa", "suba1", "mgr_all"])
async def test_bad_values_on_every_form_route_change_nothing_and_never_5xx(make_client, tree, fresh_db_url, login):
    conn = await asyncpg.connect(fresh_db_url)
    try:
        ids = await _ids(conn, tree)
        c = await make_client(login)
        token = await c.csrf("/")
        pages = [_concrete(r.path, ids) for r in REGISTRY if r.method == "GET" and not r.access.public
                 and _may_use(login, r) and not r.path.endswith((".csv", ".xlsx", ".pdf", ".css"))]
        forms = await _forms(c, pages)
        failures = []
        for route in POST_ROUTES:
            if not _may_use(login, route):
                continue
            path = _concrete(route.path, ids)
            rendered = forms.get(path, FALLBACK_FIELDS) - {"csrf_token"}
            fields = rendered or FALLBACK_FIELDS  # a plain action still gets values it must ignore
            for kind, value in BAD_VALUES.items():
                tracked = kind in NEVER_VALID and route.path not in KEEPS_DRAFTS and rendered
                before = await _checksum(conn) if tracked else None
                response = await c.post(path, {name: value for name in fields}, token=token)
                if response.status >= 500:
                    failures.append(f"{kind} -> {path}: {response.status}")
                if not tracked:
                    continue
                changed = {t for t, s in (await _checksum(conn)).items() if before[t] != s}
                if changed:
                    failures.append(f"{kind} -> {path} ({response.status}) changed {sorted(changed)}")
    finally:
        await conn.close()
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("constraint", "table", "field"), [
    ("customers_name_check", "customers", "name"), ("accounts_username_key", "accounts", "username"),
    ("operators_credit_limit", "operators", "credit_limit"), ("bills_check1", "bills", ""),
    ("package_assignments_wholesale_price_minor_check", "package_assignments", "wholesale_price_minor"),
])
def test_constraint_names_map_to_fields(constraint, table, field):
    assert constraint_field(constraint, table) == field


async def test_a_10000_character_operator_name_is_a_sentence_not_a_500(make_client, fresh_db_url):
    c = await make_client("opa")
    response = await c.post("/accounts/new", {"kind": "child", "username": "longname1", "name": "x" * 10_000,
                                              "full_name": "Long"}, token_from="/accounts/new")
    page = await response.text()
    assert response.status == 422, response.status
    # the form again, with the database's refusal next to the field it names
    assert "Business name of the new" in page and "Name: this value is not allowed" in page
    conn = await asyncpg.connect(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM accounts WHERE username = 'longname1'") == 0
        with pytest.raises(asyncpg.CheckViolationError) as raised:
            await conn.execute("UPDATE operators SET name = $1 WHERE id = 1", "x" * 10_000)
    finally:
        await conn.close()
    mapped = validation_error_from_database(raised.value)
    assert mapped is not None and set(mapped.fields) == {"name"} and str(mapped).startswith("Name:")
