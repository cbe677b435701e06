"""The accounting safety net re-arms a disconnect: once the service's disconnect for a session has finished
(failed for good, or ACKed by a router that kept the session), the next Interim-Update of a suspended customer's
still-open session queues a new one, and the dispatcher sends it (real FreeRADIUS, simulated router)."""

from __future__ import annotations

import json

import pytest
from pyrad import packet

from radbill.services import outbox
from radbill.services.customers import suspend_customer
from radbill.services.outbox_queue import enqueue
from tests.scheduler.test_dispatcher import online_customer, rows_for, scope_of
from tests.support.scheduler import FAST
from tests.support.waiting import eventually


async def _finish_service_disconnect(lab, lab_db, lab_pool, c, how: str):
    """Suspend, then let the service's disconnect end the way `how` says while the router keeps the session."""
    lab.mikrotik.reset("silent" if how == "failed" else "ack-keep")
    await suspend_customer(lab_db, scope_of(lab.isp.sub), c["id"], "unpaid")
    [row] = await rows_for(lab_db, c["username"])
    for _ in range(60):  # bounded: 3 fast attempts
        await outbox.drain(lab_pool, FAST)
        row = await lab_db.fetchrow("SELECT * FROM outbox WHERE id = $1", row["id"])
        if row["failed_at"] or row["done_at"]:
            break
        await eventually(lambda: False, within=0.05)
    return row


@pytest.mark.parametrize("how", ["failed", "acked_but_kept"])
async def test_an_interim_of_a_suspended_customers_open_session_rearms_the_disconnect(lab, lab_db, lab_pool, how):
    c, session = await online_customer(lab, lab_db, lab.mikrotik)
    first = await _finish_service_disconnect(lab, lab_db, lab_pool, c, how)
    assert (first["failed_at"] is not None) if how == "failed" else (first["done_at"] is not None)
    assert session.open  # the router still holds the session

    lab.mikrotik.reset("ack")
    lab.mikrotik.interim(session, octets=1000)  # the router reports the session: the safety net sees it
    rows = await eventually(lambda: _two_rows(lab_db, c["username"]))
    assert rows, "the safety net did not queue a new disconnect"
    old, new = rows
    assert old["id"] == first["id"] and new["done_at"] is None and new["failed_at"] is None
    assert new["kind"] == "disconnect" and json.loads(new["payload"])["reason"] == "suspended"
    assert new["dedupe_key"] == first["dedupe_key"]  # the same key: finished rows no longer suppress it

    lab.mikrotik.interim(session, octets=2000)  # while the new row is pending, another interim adds nothing
    assert len(await rows_for(lab_db, c["username"])) == 2

    await outbox.drain(lab_pool, FAST)
    [request] = lab.mikrotik.requests_for(session)
    assert request.code == packet.DisconnectRequest and request.answered == packet.DisconnectACK
    assert not session.open


async def _two_rows(conn, username):
    rows = await rows_for(conn, username)
    return rows if len(rows) == 2 else None


async def test_a_disconnect_for_a_session_the_router_no_longer_holds_is_done_not_retried(lab, lab_db, lab_pool):
    """A re-armed disconnect can cross the session's Stop: NAK with Error-Cause 503 (Session-Context-Not-Found)
    means the session is gone, which is what was wanted; no retries, no alert."""
    c, session = await online_customer(lab, lab_db, lab.mikrotik)
    lab.mikrotik.stop_session(session)
    row_id = await enqueue(lab_db, "disconnect", lab.isp.sub["id"],
                           {"username": c["username"], "acct_session_id": session.acct_session_id,
                            "acct_unique_id": "gone-1", "nas_ip": lab.mikrotik.ip, "framed_ip": session.framed_ip,
                            "reason": "suspended", "customer_id": c["id"]}, "disconnect:gone-1:suspended")
    await outbox.drain(lab_pool, FAST)
    row = await lab_db.fetchrow("SELECT * FROM outbox WHERE id = $1", row_id)
    assert row["done_at"] is not None and row["attempts"] == 1
    assert json.loads(row["result"])["status"] == "gone"
    [request] = lab.mikrotik.requests_for(session)
    assert request.answered == packet.DisconnectNAK
    assert await lab_db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'alert' AND object_id = $1",
                                 c["id"]) == 0
