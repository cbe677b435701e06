"""Every portal route with an id in its path, asked by customer A with customer B's ids: 404, and nothing of B's
on the page. B is A's neighbour (same operator), so only the one-customer scope stands between them.

The routes come from the portal's router: a route added tomorrow with a `{...}` parameter fails here until
FOREIGN_KINDS says how to make B's row for it (or TOKEN_PARAMS explains why it needs no session).
"""

from __future__ import annotations

import hashlib
import re

import pytest

from portal.app import create_app
from portal.session import ACCESS_ATTR
from radbill.config import Config, DatabaseUrl, Secret
from radbill.services import billing, fair_usage
from radbill.tenancy import Scope
from tests import factories as f
from tests.portal.customer_http import log_in

# route parameter -> how to make one of customer B's rows of that kind (returns its id)
FOREIGN_KINDS = {"bill_id", "payment_id", "ticket_id", "attachment_id", "message_id", "package_id", "pack_id"}
# machine routes, reached by an unguessable token or a gateway's id, never a customer's id: no session to abuse
TOKEN_PARAMS = {"token", "reference", "gateway_id"}
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def portal_routes() -> list[tuple[str, str, str]]:
    """(method, path, access) of every portal route with a path parameter, read from the real router."""
    app = create_app(Config(database_url=DatabaseUrl("postgresql://unused/x"), secret_key=Secret("k" * 40)))
    routes = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if "{" in path and route.method != "HEAD" and not path.startswith("/static"):
            routes.append((route.method, path, getattr(route.handler, ACCESS_ATTR, None)))
    return routes


ROUTES = portal_routes()
CUSTOMER_ROUTES = [(m, p) for m, p, access in ROUTES if access == "customer"]


def test_every_id_route_is_covered():
    params = {p for _m, path, _a in ROUTES for p in _PARAM.findall(path)}
    unknown = params - FOREIGN_KINDS - TOKEN_PARAMS
    assert not unknown, f"teach FOREIGN_KINDS (and the neighbour fixture) to make a foreign {unknown}"
    for method, path, access in ROUTES:
        assert access in ("customer", "machine"), f"{method} {path}: an id route must be a customer's or a machine's"
        if access == "machine":
            assert set(_PARAM.findall(path)) <= TOKEN_PARAMS, f"{method} {path}: a customer id without a session"
    assert {("GET", "/bills/{bill_id}/invoice"), ("GET", "/payments/{payment_id}/receipt.pdf"),
            ("POST", "/bills/{bill_id}/pay")} <= set(CUSTOMER_ROUTES)  # the router is really being read


@pytest.fixture
async def neighbour(portal) -> dict:
    """Customer B beside A (same operator): a bill, a payment, a ticket with a message and a photo; and a package
    and a data top-up pack that A's operator does not sell (another operator's)."""
    w, conn = portal.w, portal.owner
    owner = w.customer["operator_id"]
    b = await f.customer(conn, owner, w.package["id"], w.profile["id"], name="Neighbour Bashir",
                         username="neighbour-bashir")
    await billing.generate_bills(conn, w.bill["issued_at"], w.system, [b["id"]])
    bill = await conn.fetchrow("SELECT * FROM bills WHERE customer_id = $1", b["id"])
    payment = await f.insert(conn, "payments", {"customer_id": b["id"], "operator_id": owner, "bill_id": bill["id"],
                                                "amount_minor": 100, "currency": "BDT", "method": "cash"})
    ticket = await f.insert(conn, "tickets", {"operator_id": owner, "customer_id": b["id"], "category": "slow",
                                              "subject": "Bashir's slow line"})
    message = await f.insert(conn, "ticket_messages", {"ticket_id": ticket["id"], "operator_id": owner,
                                                       "customer_id": b["id"], "body": "Bashir writes"})
    photo = await f.insert(conn, "ticket_attachments", {
        "message_id": message["id"], "operator_id": owner, "customer_id": b["id"],
        "sha256": hashlib.sha256(b"x").hexdigest(), "content_type": "image/png", "size_bytes": 1})
    root = await conn.fetchval("SELECT id FROM operators WHERE kind = 'group_admin'")
    other = await f.operator(conn, "operator", root)
    package = await f.package(conn, other["id"], name="Bashir's own ISP 1G")
    pack = await fair_usage.create_pack(conn, Scope.system(other["id"], str(other["path"])),
                                        {"name": "Bashir's 50 GB", "size_gb": "50", "price": "10"})
    return {"customer": b, "ids": {"bill_id": bill["id"], "payment_id": payment["id"], "ticket_id": ticket["id"],
                                   "message_id": message["id"], "attachment_id": photo["id"],
                                   "package_id": package["id"], "pack_id": pack}}


def _fill(path: str, ids: dict) -> str:
    return _PARAM.sub(lambda m: str(ids[m.group(1)]), path)


@pytest.mark.parametrize(("method", "path"), CUSTOMER_ROUTES, ids=[f"{m} {p}" for m, p in CUSTOMER_ROUTES])
async def test_a_neighbours_id_is_not_found(portal, neighbour, method, path):
    p, a = portal, portal.w.customer
    csrf = await log_in(p, a["username"], a["radius_password"])
    intents = await p.owner.fetchval("SELECT count(*) FROM payment_intents")
    url = p.url + _fill(path, neighbour["ids"])
    form = {"csrf_token": csrf, "gateway": str(p.w.gateway["id"]), "amount": "100", "body": "x", "text": "x"}
    request = p.http.get(url, allow_redirects=False) if method == "GET" else p.http.post(
        url, data=form, headers={"Origin": p.url}, allow_redirects=False)
    async with request as r:
        body = await r.read()
        assert r.status == 404, (r.status, body[:300])
    b = neighbour["customer"]
    for secret in (b["username"], b["name"], "Bashir"):
        assert secret.encode() not in body
    assert b"Page not found" in body and b"payment link" not in body
    assert await p.owner.fetchval("SELECT count(*) FROM payment_intents") == intents


async def test_the_customer_scope_reads_its_own_ledger_lines_only(portal, neighbour):
    """Migration 0032: a receipt's lines (ledger entries, reversals) are readable in the customer's own scope,
    and a neighbour's are not, even by a query that forgets its predicate."""
    from radbill.db.pool import customer_scoped
    from radbill.services import ledger
    from radbill.services.portal_auth import customer_scope

    p, a, b = portal, portal.w.customer, neighbour["customer"]
    accounts_of = "SELECT id FROM ledger_accounts WHERE customer_id = $1"
    a_accounts = {r["id"] for r in await p.owner.fetch(accounts_of, a["id"])}
    b_accounts = {r["id"] for r in await p.owner.fetch(accounts_of, b["id"])}
    assert a_accounts and b_accounts
    await f.insert(p.owner, "payment_reversals", {"payment_id": neighbour["ids"]["payment_id"],
                                                  "operator_id": b["operator_id"], "customer_id": b["id"],
                                                  "amount_minor": 100, "currency": "BDT", "reason": "test"})
    with customer_scoped(a["id"]):
        async with p.pool.acquire() as conn:
            seen = {r["account_id"] for r in await conn.fetch("SELECT account_id FROM ledger_entries")}
            reversals = await conn.fetchval("SELECT count(*) FROM payment_reversals")
            balance = await ledger.customer_balance(conn, await customer_scope(conn, a["id"]), a["id"])
    assert seen and seen <= a_accounts
    assert reversals == 0
    assert balance.due_minor == 50000  # the bill, read through the ledger in the customer's own scope

