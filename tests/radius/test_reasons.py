"""Reason codes through the real server: which reason wins, and `radbill explain` agreeing with the server."""

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from radbill import diagnostics, freeradius
from radbill.config import Config, DatabaseUrl, Secret
from radbill.policy import MESSAGES
from radbill.policy.decide import POLICY_REASONS
from tests.radius.test_accounting import acct, session_id
from tests.radius.test_authorize import login, login_when, new_customer
from tests.support.radius import wait_folded
from tests.support.waiting import wait_until


async def test_a_suspended_customer_with_a_session_still_open_hears_suspended(radius, radius_db):
    c = await new_customer(radius_db, radius, simultaneous_use=1)
    assert login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted)
    acct(radius, c["username"], session_id(), "Start")
    assert login_when(radius, c["username"], c["radius_password"],
                      lambda r: r.first("Reply-Message") == MESSAGES["simultaneous_use"])
    await radius_db.execute("UPDATE customers SET status = 'suspended' WHERE id = $1", c["id"])
    reply = login_when(radius, c["username"], c["radius_password"],
                       lambda r: r.first("Reply-Message") != MESSAGES["simultaneous_use"])
    assert reply, "the suspended customer was still told 'already online'"
    assert (reply.code, reply.first("Reply-Message")) == ("Access-Reject", MESSAGES["suspended"])
    assert not login(radius, c["username"], c["radius_password"]).accepted


def server_reason(radius, username: str, password: str, **attrs) -> tuple[bool, str]:
    """(accepted, reason) as the live server decided and logged it in radpostauth for one real Access-Request
    (found by a Called-Station-Id of its own: the post-auth log is loaded in batches, not in order)."""
    probe = f"probe-{time.time_ns()}"
    reply = login(radius, username, password, Called_Station_Id=probe, **attrs)
    assert reply is not None
    with psycopg.connect(radius.db_url, autocommit=True) as conn:
        found = wait_until(lambda: conn.execute("SELECT reason FROM radpostauth WHERE calledstationid = %s",
                                                (probe,)).fetchone())
    assert found, "the request was not logged in radpostauth"
    return reply.accepted, found[0]


def hour_old_start(radius, c):
    # issue 12 #6: a Start whose Event-Timestamp is an hour old (a NAS with a wrong clock) still opens a session
    acct(radius, c["username"], session_id(), "Start", Event_Timestamp=int(time.time()) - 3600)
    wait_folded(radius.db_url)


MAC = "11:22:33:44:55:66"
# per reason code: the customer's columns, and what happens before the Access-Request
STATES = {
    "ok": ({}, None),
    "unknown_user": (None, None),
    "disabled": ({"status": "disabled"}, None),
    "mac_mismatch": ({"mac_address": "aa:bb:cc:dd:ee:ff"}, None),
    "suspended": ({"status": "suspended"}, None),
    "expired": ({"expires_at": datetime.now(UTC) - timedelta(hours=1)}, None),
    "simultaneous_use": ({"simultaneous_use": 1}, hour_old_start),
}


@pytest.mark.parametrize("reason", POLICY_REASONS)
async def test_explain_gives_the_live_servers_reason(radius, radius_db, reason):
    assert reason in STATES, f"add a customer state for the new reason code {reason!r} to STATES"
    values, before = STATES[reason]
    if values is None:
        username, password = f"nobody-{time.time_ns()}", "x"
    else:
        c = await new_customer(radius_db, radius, **values)
        username, password = c["username"], c["radius_password"]
        # the new customer reaches the snapshot by NOTIFY
        assert login_when(radius, username, password, lambda r: r.first("Reply-Message") != MESSAGES["unknown_user"],
                          Calling_Station_Id=MAC)
        if before:
            before(radius, c)
    accepted, logged = server_reason(radius, username, password, Calling_Station_Id=MAC)
    config = Config(database_url=DatabaseUrl(radius.db_url), secret_key=Secret("x" * 32),
                    acct_interim_interval=radius.settings.acct_interim_interval)
    decision, _ = diagnostics.explain(config, username, MAC)
    assert (decision.accept, decision.reason) == (accepted, logged) == (reason == "ok", reason)


async def test_a_session_with_an_old_event_timestamp_still_counts_after_a_restart(radius, radius_db):
    # the tracker counts from when radbill heard the session; its reload from radacct must too (heard_at), or a
    # restart of FreeRADIUS forgets every session of a NAS whose clock is behind
    c = await new_customer(radius_db, radius, simultaneous_use=1)
    assert login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted)
    hour_old_start(radius, c)
    assert server_reason(radius, c["username"], c["radius_password"]) == (False, "simultaneous_use")
    radius.service.restart()
    freeradius.wait_ready(radius.settings, radius.secret, radius.service.process)
    assert server_reason(radius, c["username"], c["radius_password"]) == (False, "simultaneous_use")
