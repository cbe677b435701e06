"""The API tests' world: one real admin app per test module (its own database, the admin tests' ISP tree), API
clients made through the service, and `api`: an HTTP client that validates EVERY response it receives against
/api/v1/openapi.json (jsonschema), so no test can pass on a response the document does not describe.

A test module here starts with `pytestmark = pytest.mark.asyncio(loop_scope="module")` (the server is shared by
the module's tests, so they run on its event loop)."""

from __future__ import annotations

import asyncpg
import jsonschema
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from admin.app import create_app
from radbill.config import Config, DatabaseUrl, Secret
from tests.support.admin import build_tree
from tests.support.api import Api, ApiWorld
from tests.support.db import app_url


@pytest.fixture(scope="module")
def api_db_url(module_db_url):
    return module_db_url  # one database per API test module (tests/conftest.py)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api_world(api_db_url):
    conn = await asyncpg.connect(api_db_url)
    try:
        tree = await build_tree(conn)
    finally:
        await conn.close()
    config = Config(database_url=DatabaseUrl(app_url(api_db_url)), migrate_database_url=DatabaseUrl(api_db_url),
                    secret_key=Secret("k" * 64), cookie_secure=False, api_rate=1000, api_burst=1000)
    server = TestServer(create_app(config))
    client = TestClient(server)
    await client.start_server()
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    jsonschema.Draft202012Validator.check_schema({k: v for k, v in document.items() if k == "components"})
    yield ApiWorld(api_db_url, tree, server, client, document)
    await client.close()


@pytest.fixture
def api_as(api_world):
    """`api_as(token)`: an Api for that token (None: no Authorization header)."""
    return lambda token: Api(api_world, token)
