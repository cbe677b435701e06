"""The admin tests' world: a small ISP tree with one login per role, and a browser-like client of the admin app."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from admin.app import create_app
from radbill.config import Config, DatabaseUrl, Secret
from radbill.passwords import hash_password
from tests import factories as f
from tests.support.db import app_url

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Tree:
    """root -> op_a -> (sub_a1, sub_a2); root -> op_b. Each has a login; op_a has two managers."""

    ops: dict = field(default_factory=dict)
    accounts: dict = field(default_factory=dict)
    customers: dict = field(default_factory=dict)


async def build_tree(conn) -> Tree:
    t = Tree()
    t.ops["root"] = await f.operator(conn, "group_admin", name="Group")
    t.ops["op_a"] = await f.operator(conn, "operator", t.ops["root"]["id"], name="Operator A")
    t.ops["op_b"] = await f.operator(conn, "operator", t.ops["root"]["id"], name="Operator B")
    t.ops["sub_a1"] = await f.operator(conn, "sub_operator", t.ops["op_a"]["id"], name="Reseller A1")
    t.ops["sub_a2"] = await f.operator(conn, "sub_operator", t.ops["op_a"]["id"], name="Reseller A2")
    logins = {"admin": ("root", "group_admin", []), "opa": ("op_a", "operator", []), "opb": ("op_b", "operator", []),
              "suba1": ("sub_a1", "sub_operator", []), "suba2": ("sub_a2", "sub_operator", []),
              "mgr_none": ("op_a", "manager", []),
              "mgr_all": ("op_a", "manager", ["customers.view", "customers.edit", "billing.collect", "billing.manage",
                                              "packages.manage", "routers.manage", "sms.send", "reports.view",
                                              "audit.view"])}
    hashed = hash_password(PASSWORD)
    for username, (op, role, perms) in logins.items():
        t.accounts[username] = await f.insert(conn, "accounts", {
            "operator_id": t.ops[op]["id"], "role": role, "username": username, "password_hash": hashed,
            "must_change_password": False, "permissions": perms, "full_name": username.upper()})
    for name, op in (("a1", "sub_a1"), ("a2", "sub_a2"), ("b", "op_b")):
        owner = "op_a" if op.startswith("sub_a") else "op_b"
        pkg = await f.package(conn, t.ops[owner]["id"], ip_pool=f"pool-{name}")
        profile = await f.billing_profile(conn, t.ops[owner]["id"])
        t.customers[name] = await f.customer(conn, t.ops[op]["id"], pkg["id"], profile["id"], username=f"cust-{name}",
                                             name=f"Customer {name.upper()}")
        await f.insert(conn, "nas", {"nasname": f"10.0.{len(t.customers)}.1", "shortname": f"nas-{name}",
                                     "secret": "s" * 32, "operator_id": t.ops[owner]["id"]})
    return t


async def built_tree(url: str) -> Tree:
    conn = await asyncpg.connect(url)
    try:
        return await build_tree(conn)
    finally:
        await conn.close()


def admin_config_for(url: str) -> Config:
    # the admin connects as radbill_app, like in production: row-level security applies to every request
    return Config(database_url=DatabaseUrl(app_url(url)), migrate_database_url=DatabaseUrl(url),
                  secret_key=Secret("k" * 64), cookie_secure=False)


class AdminClient:
    """A browser-like client: keeps cookies, sends the CSRF token and a same-origin Origin header."""

    def __init__(self, client: TestClient):
        self.client = client
        self.origin = str(client.make_url("/")).rstrip("/")

    async def get(self, path: str, **kw):
        return await self.client.get(path, allow_redirects=kw.pop("allow_redirects", False), **kw)

    async def csrf(self, path: str = "/") -> str:
        page = await self.client.get(path)
        match = CSRF.search(await page.text())
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    async def post(self, path: str, data: dict | None = None, token_from: str = "/", origin: str | None = "same",
                   token: str | None = None, **kw):
        data = dict(data or {})
        if "csrf_token" not in data:
            data["csrf_token"] = token if token is not None else await self.csrf(token_from)
        headers = {"Origin": self.origin if origin == "same" else origin} if origin else {}
        return await self.client.post(path, data=data, headers=headers, allow_redirects=False, **kw)

    async def login(self, username: str, password: str = PASSWORD):
        response = await self.post("/login", {"username": username, "password": password}, token_from="/login")
        return response


@asynccontextmanager
async def client_factory(config: Config):
    """`factory(login=None)`: a new AdminClient (signed in as `login`) of one app and server; all closed at the end."""
    server = TestServer(create_app(config))
    clients = []

    async def factory(login: str | None = None) -> AdminClient:
        client = TestClient(server)
        await client.start_server()
        clients.append(client)
        admin = AdminClient(client)
        if login:
            response = await admin.login(login)
            assert response.status == 303, await response.text()
        return admin

    try:
        yield factory
    finally:
        for client in clients:
            await client.close()
