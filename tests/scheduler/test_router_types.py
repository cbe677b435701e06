"""Disconnect and CoA per router type, end to end: a service (or the RADIUS module) queues the command, the
dispatcher writes it the way the session's router type wants it, and a simulated router of that type (which
refuses what its real counterpart refuses) acknowledges it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

import pytest
from pyrad import packet

from radbill import timeline
from radbill.policy import Speeds
from radbill.services import outbox
from radbill.services.customers import change_package, customer_timeline, suspend_customer
from radbill.services.outbox_queue import enqueue
from tests.nas_simulator import (
    ERROR_CAUSE_MISSING_ATTRIBUTE,
    ERROR_CAUSE_UNSUPPORTED_ATTRIBUTE,
    ERROR_CAUSE_UNSUPPORTED_SERVICE,
)
from tests.scheduler.test_dispatcher import _closed, online_customer, rows_for, scope_of
from tests.support.scheduler import FAST
from tests.support.waiting import eventually

# the lab's fast package: 20M down / 8M up, no burst
NEW_RATE = {
    "mikrotik": {"Mikrotik-Rate-Limit": "8M/20M"},
    "cisco": {"Cisco-Account-Info": "QU;8000000;D;20000000"},
    "huawei": {"Huawei-Input-Average-Rate": 8000000, "Huawei-Output-Average-Rate": 20000000},
    "accel_ppp": {"Filter-Id": "20000/8000"},
}


@pytest.mark.parametrize("kind", list(NEW_RATE))
async def test_a_package_change_reaches_a_live_session_in_the_router_types_own_attributes(lab, lab_db, lab_pool,
                                                                                           kind):
    router = lab.routers[kind]
    c, session = await online_customer(lab, lab_db, router)
    await change_package(lab_db, scope_of(lab.isp.sub), c["id"], lab.isp.fast_package["id"])
    await outbox.drain(lab_pool, FAST)
    [request] = router.requests_for(session)
    assert request.code == packet.CoARequest and request.answered == packet.CoAACK, request
    assert {k: session.attributes.get(k) for k in NEW_RATE[kind]} == NEW_RATE[kind]
    assert session.open


@pytest.mark.parametrize("kind", ["juniper", "generic"])
async def test_a_package_change_on_a_router_without_rate_coa_reconnects_the_session(lab, lab_db, lab_pool, kind):
    router = lab.routers[kind]
    c, session = await online_customer(lab, lab_db, router)
    await change_package(lab_db, scope_of(lab.isp.sub), c["id"], lab.isp.fast_package["id"])
    await outbox.drain(lab_pool, FAST)
    [request] = router.requests_for(session)
    assert request.code == packet.DisconnectRequest and request.answered == packet.DisconnectACK
    assert await eventually(lambda: _closed(lab_db, c))


@pytest.mark.parametrize("kind", ["cisco", "juniper", "huawei"])
async def test_a_suspension_disconnects_by_the_keys_the_router_type_requires(lab, lab_db, lab_pool, kind):
    router = lab.routers[kind]
    c, session = await online_customer(lab, lab_db, router)
    await suspend_customer(lab_db, scope_of(lab.isp.sub), c["id"], "unpaid bill")
    await outbox.drain(lab_pool, FAST)
    [request] = router.requests_for(session)
    assert request.code == packet.DisconnectRequest and request.answered == packet.DisconnectACK
    assert request.attributes["Acct-Session-Id"] == session.acct_session_id
    assert "Framed-IP-Address" not in request.attributes  # the session key is Acct-Session-Id on these
    assert await eventually(lambda: _closed(lab_db, c))


async def test_a_data_cap_coa_queued_by_the_radius_module_becomes_a_disconnect_on_juniper(lab, lab_db, lab_pool):
    """The module does not know a session's router type: the dispatcher turns a rate CoA the router cannot apply
    into a Disconnect (the next login gets the throttled rate)."""
    router = lab.routers["juniper"]
    c, session = await online_customer(lab, lab_db, router)
    payload = {"username": c["username"], "acct_session_id": session.acct_session_id, "nas_ip": router.ip,
               "framed_ip": session.framed_ip, "reason": "data_cap", "speeds": asdict(Speeds(1000, 512))}
    await enqueue(lab_db, "coa", c["operator_id"], payload, f"coa:data_cap:test:{session.acct_session_id}")
    await outbox.drain(lab_pool, FAST)
    [request] = router.requests_for(session)
    assert request.code == packet.DisconnectRequest and request.answered == packet.DisconnectACK
    [row] = await rows_for(lab_db, c["username"])
    assert json.loads(row["result"])["sent"] == "disconnect" and json.loads(row["result"])["status"] == "ack"
    # the customer's timeline says what happened to the session, not "changed the speed"
    [entry] = [e for e in await customer_timeline(lab_db, scope_of(lab.isp.sub), c["id"])
               if e["action"] == "outbox.coa"]
    assert timeline.describe(entry["action"], json.loads(entry["detail"]), None) \
        == f"Router {router.ip} disconnected session {session.acct_session_id}."


def _send(lab, kind, code, attributes):
    router = lab.routers[kind]
    return outbox.send_rfc5176(code, router.ip, router.coa_port, lab.radius.secret, attributes, 0.5, 1)


async def test_the_simulated_routers_refuse_what_their_types_refuse(lab, lab_db):
    c, session = await online_customer(lab, lab_db, lab.routers["cisco"])
    # Cisco ISG (and Huawei) will not look a session up without Acct-Session-Id
    code, reply = _send(lab, "cisco", packet.DisconnectRequest,
                        [("User-Name", c["username"]), ("Framed-IP-Address", session.framed_ip)])
    assert code == packet.DisconnectNAK and reply["Error-Cause"] == ERROR_CAUSE_MISSING_ATTRIBUTE
    # another vendor's rate attribute means nothing to it
    code, reply = _send(lab, "cisco", packet.CoARequest, [("User-Name", c["username"]),
                                                           ("Acct-Session-Id", session.acct_session_id),
                                                           ("Mikrotik-Rate-Limit", "1M/1M")])
    assert code == packet.CoANAK and reply["Error-Cause"] == ERROR_CAUSE_UNSUPPORTED_ATTRIBUTE
    assert session.open and "Mikrotik-Rate-Limit" not in session.attributes

    g, generic_session = await online_customer(lab, lab_db, lab.routers["generic"])
    code, reply = _send(lab, "generic", packet.CoARequest, [("User-Name", g["username"]),
                                                             ("Acct-Session-Id", generic_session.acct_session_id),
                                                             ("WISPr-Bandwidth-Max-Down", 1000000)])
    assert code == packet.CoANAK and reply["Error-Cause"] == ERROR_CAUSE_UNSUPPORTED_SERVICE


async def test_a_rate_coa_sent_as_a_disconnect_that_fails_alerts_as_a_disconnect(lab, lab_db, lab_pool):
    router = lab.routers["generic"]
    c, session = await online_customer(lab, lab_db, router)
    router.reset("silent")
    payload = {"username": c["username"], "acct_session_id": session.acct_session_id, "nas_ip": router.ip,
               "framed_ip": session.framed_ip, "reason": "data_cap", "speeds": asdict(Speeds(1000, 512))}
    outbox_id = await enqueue(lab_db, "coa", c["operator_id"], payload, f"coa:data_cap:test:{session.acct_session_id}")
    row = None
    for _ in range(40):  # bounded: 3 attempts with sub-second backoff
        await outbox.dispatch_due(lab_pool, FAST)
        row = await lab_db.fetchrow("SELECT * FROM outbox WHERE id = $1", outbox_id)
        if row["failed_at"]:
            break
        await asyncio.sleep(0.03)
    assert row["failed_at"] is not None
    assert {r.code for r in router.requests_for(session)} == {packet.DisconnectRequest}
    [alert] = [json.loads(t["detail"]) for t in await customer_timeline(lab_db, scope_of(lab.isp.sub), c["id"])
               if t["action"] == "alert"]
    assert alert["message"].startswith(f"Could not disconnect {c['username']}'s session"), alert["message"]
