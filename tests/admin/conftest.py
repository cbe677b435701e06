"""The admin tests' read-only module worlds; `tree`, `admin_config` and `make_client` are shared by several
directories and live in tests/fixtures/admin.py, the tree and client in tests/support/admin.py."""

from __future__ import annotations

import pytest_asyncio

from tests.support.admin import Tree, admin_config_for, built_tree, client_factory

# ---- read-only modules: one database, tree and admin app for the whole module ---------------------------------
# A module using these starts with `pytestmark = pytest.mark.asyncio(loop_scope="module")` (the app is shared, so
# its tests run on the module's event loop) and holds only tests that read: a role matrix sweeping every page
# rebuilt the same world for each role. A test that writes belongs with `make_client` in a module of its own.

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_tree(module_db_url) -> Tree:
    return await built_tree(module_db_url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_client(module_db_url, module_tree):
    """make_client over the module's shared world: each call is a new session of the same app."""
    async with client_factory(admin_config_for(module_db_url)) as factory:
        yield factory
