"""Bills & Payments admin tests: the admin test app and ISP tree (tests/fixtures/admin.py), with bills issued."""

from __future__ import annotations

import pytest

from tests.support.billing import issue_bills


@pytest.fixture
async def bills(fresh_db_url, request):
    """Bills for the tree's customers."""
    request.getfixturevalue("tree")
    return await issue_bills(fresh_db_url)
