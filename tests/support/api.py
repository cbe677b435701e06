"""The API tests' world and caller: a client made through the service, and `Api`, which validates EVERY response
it receives against /api/v1/openapi.json (jsonschema), so no test can pass on a response the document does not
describe."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import asyncpg
import jsonschema
from aiohttp.test_utils import TestClient, TestServer

from radbill.services import api_clients
from radbill.tenancy import Scope

ALL_PERMISSIONS = ["customers.view", "customers.edit", "billing.collect", "billing.manage", "packages.manage",
                   "routers.manage", "sms.send", "reports.view", "payments.manage", "audit.view"]


@dataclass
class ApiWorld:
    url: str  # the owner's database url (for setting rows up and checking them)
    tree: object
    server: TestServer
    client: TestClient
    document: dict

    async def owner(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.url)

    async def make_client(self, op: str = "op_a", scope_op: str | None = None, permissions=None, cidrs: str = "",
                          name: str = "erp") -> tuple[int, str]:
        """A client owned by `op` (acting on `scope_op`'s subtree), made by op's login; returns (id, token)."""
        operator = self.tree.ops[op]
        account = next(a for a in self.tree.accounts.values()
                       if a["operator_id"] == operator["id"] and a["role"] != "manager")
        scope = Scope(account["id"], operator["id"], operator["path"], account["role"])
        form = {"name": name, "permissions": list(ALL_PERMISSIONS if permissions is None else permissions),
                "allowed_cidrs": cidrs,
                "scope_operator_id": str(self.tree.ops[scope_op]["id"]) if scope_op else ""}
        conn = await self.owner()
        try:
            row, token = await api_clients.create_client(conn, scope, form, None)
        finally:
            await conn.close()
        return row["id"], token


# ---- every response checked against the OpenAPI document ------------------------------------------------------

def _template_regex(template: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(template)) + "$")


def operation_for(document: dict, method: str, path: str) -> dict | None:
    for template, operations in document["paths"].items():
        if _template_regex(template).match(path) and method.lower() in operations:
            return operations[method.lower()]
    return None


def validate_response(document: dict, method: str, path: str, status: int, content_type: str, body) -> None:
    """Fail unless the document declares this status for the operation and the body matches its schema."""
    operation = operation_for(document, method, path.split("?", 1)[0])
    if operation is None:  # no such operation: only a problem may come back
        assert content_type == "application/problem+json", (method, path, status, content_type)
        schema = {"$ref": "#/components/schemas/Problem"}
    else:
        declared = operation["responses"].get(str(status))
        assert declared is not None, f"{method} {path}: status {status} is not in the OpenAPI document: {body}"
        if "$ref" in declared:
            declared = document["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
        content = declared.get("content", {})
        assert content_type in content, f"{method} {path}: {status} {content_type} not declared ({list(content)})"
        schema = content[content_type]["schema"]
    # the schema's $refs point into the document: validate with the document as the root
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": document["components"],
            **schema}
    jsonschema.validate(body, root, cls=jsonschema.Draft202012Validator)


@dataclass
class Reply:
    status: int
    headers: object
    body: object


class Api:
    """An API caller with a token; every reply is validated against the OpenAPI document before it is returned."""

    def __init__(self, world: ApiWorld, token: str | None):
        self.world, self.token = world, token

    async def call(self, method: str, path: str, *, json_body=None, data: bytes | str | None = None,
                   headers: dict | None = None, params: dict | None = None) -> Reply:
        sent = dict(headers or {})
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        if json_body is not None:
            data = json.dumps(json_body)
            sent.setdefault("Content-Type", "application/json")
        response = await self.world.client.request(method, path, data=data, headers=sent, params=params,
                                                   allow_redirects=False)
        raw = await response.read()
        content_type = response.content_type
        body = json.loads(raw) if content_type in ("application/json", "application/problem+json") else raw.decode()
        url_path = response.url.path
        if url_path.startswith("/api/v1/") and url_path != "/api/v1/docs":
            assert content_type in ("application/json", "application/problem+json"), (path, content_type)
            validate_response(self.world.document, method, url_path, response.status, content_type, body)
        return Reply(response.status, response.headers, body)

    async def get(self, path: str, **kw) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body=None, **kw) -> Reply:
        return await self.call("POST", path, json_body=body, **kw)

    async def patch(self, path: str, body=None, **kw) -> Reply:
        return await self.call("PATCH", path, json_body=body, **kw)
