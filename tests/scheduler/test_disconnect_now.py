"""Staff's "Disconnect now" end to end: a customer logged in through a simulated router (real RADIUS to the
FreeRADIUS under test); the troubleshooting panel shows the real login attempt and the session; Disconnect now
goes out through the outbox as an RFC 5176 Disconnect-Request, and the result lands on the timeline."""

from __future__ import annotations

import asyncpg
from pyrad import packet

from radbill.db.pool import set_scope
from radbill.services import outbox, troubleshoot
from radbill.services.customers import customer_timeline, disconnect_session
from tests.scheduler.test_dispatcher import online_customer, open_sessions, scope_of
from tests.support.db import app_url
from tests.support.radius import wait_folded
from tests.support.scheduler import FAST
from tests.support.waiting import eventually


async def test_disconnect_now_reaches_the_router_and_the_timeline(lab, lab_db, lab_pool):
    c, session = await online_customer(lab, lab_db, lab.other)
    wait_folded(lab.db_url)
    scope = scope_of(lab.isp.sub)
    app = await asyncpg.connect(app_url(lab.db_url))  # as the admin: radbill_app under row-level security
    try:
        await set_scope(app, scope.path)
        # the login attempt reaches radpostauth through the module's spool: wait for it
        shown = await eventually(lambda: _with_attempt(app, scope, c["id"]), within=15)
        assert shown, "the login attempt never showed on the panel"
        assert shown["verdict"].startswith("A login now would be accepted")
        attempt = shown["attempts"][0]  # the newest: the login that opened the session
        assert (attempt["reply"], attempt["nas_ip"]) == ("Access-Accept", lab.other.ip)
        [open_row] = shown["open_sessions"]
        queued = await disconnect_session(app, scope, c["id"], open_row["acctuniqueid"])
    finally:
        await app.close()
    assert queued is not None
    assert await outbox.drain(lab_pool, FAST) >= 1
    [request] = lab.other.requests_for(session)
    assert request.code == packet.DisconnectRequest and request.answered == packet.DisconnectACK
    assert await eventually(lambda: _offline(lab_db, c))
    actions = [r["action"] for r in await customer_timeline(lab_db, scope, c["id"])]
    assert actions[:2] == ["outbox.disconnect", "customer.disconnect"]


async def _with_attempt(conn, scope, customer_id):
    found = await troubleshoot.panel(conn, scope, customer_id, 300)
    return found if any(a["reply"] == "Access-Accept" for a in found["attempts"]) else None


async def _offline(conn, customer) -> bool:
    return await open_sessions(conn, customer["username"]) == 0
