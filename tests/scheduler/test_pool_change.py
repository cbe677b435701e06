"""A package's IP pool change reaches live sessions: the online customers of the package are disconnected
(a pool cannot change by CoA) through the outbox, as real RFC 5176 Disconnect-Requests to the simulated router;
customers of other packages stay online."""

from __future__ import annotations

import asyncpg
from pyrad import packet

from radbill.db.pool import set_scope
from radbill.services import catalog, outbox
from tests import factories as f
from tests.scheduler.test_dispatcher import online_customer, scope_of
from tests.support.db import app_url
from tests.support.scheduler import FAST


async def test_a_new_pool_disconnects_the_packages_online_customers(lab, lab_db, lab_pool):
    pkg = await f.package(lab_db, lab.isp.operator["id"], ip_pool="old-pool")
    await f.insert(lab_db, "package_assignments", {"operator_id": lab.isp.sub["id"], "package_id": pkg["id"],
                                                   "wholesale_price_minor": 100})
    moved, moved_session = await online_customer(lab, lab_db, lab.mikrotik)
    stays, stays_session = await online_customer(lab, lab_db, lab.mikrotik)
    await lab_db.execute("UPDATE customers SET package_id = $2 WHERE id = $1", moved["id"], pkg["id"])

    scope = scope_of(lab.isp.operator)
    app = await asyncpg.connect(app_url(lab.db_url))  # as the admin: radbill_app under row-level security
    try:
        await set_scope(app, scope.path)
        package = await catalog.get_package(app, scope, pkg["id"])
        form = {**catalog.package_form(package), "ip_pool": "new-pool"}
        await catalog.update_package(app, scope, pkg["id"], form)
    finally:
        await app.close()
    assert await outbox.drain(lab_pool, FAST) >= 1

    [request] = lab.mikrotik.requests_for(moved_session)
    assert request.code == packet.DisconnectRequest and request.answered == packet.DisconnectACK
    assert request.attributes["User-Name"] == moved["username"]
    assert lab.mikrotik.requests_for(stays_session) == []
    [edit] = await lab_db.fetch("SELECT detail FROM audit_log WHERE action = 'package.edit' AND object_id = $1",
                                pkg["id"])
    assert '"ip_pool": ["old-pool", "new-pool"]' in edit["detail"] and '"outbox_ids": [' in edit["detail"]
