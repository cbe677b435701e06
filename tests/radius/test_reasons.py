"""Reason codes through the real server: which reason wins, and `radbill explain` agreeing with the server."""

from radbill.policy import MESSAGES
from tests.radius.test_accounting import acct, session_id
from tests.radius.test_authorize import login, login_when, new_customer


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
