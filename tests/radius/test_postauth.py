"""radpostauth: every Access-Request leaves a row (user, reply, reason, NAS), written in batches."""

import asyncio
import time

from tests.radius.test_authorize import login, login_when, new_customer


async def test_postauth_rows_record_reply_and_reason(radius, radius_db):
    active = await new_customer(radius_db, radius)
    suspended = await new_customer(radius_db, radius, status="suspended")
    assert login_when(radius, active["username"], active["radius_password"], lambda r: r.accepted)
    assert login_when(radius, suspended["username"], suspended["radius_password"],
                      lambda r: r.first("Reply-Message", ) and "suspended" in r.first("Reply-Message"))
    login(radius, active["username"], "wrong-password", Calling_Station_Id="aa:bb:cc:00:11:22")

    expected = {(active["username"], "Access-Accept", "ok"), (suspended["username"], "Access-Reject", "suspended"),
                (active["username"], "Access-Reject", "bad_credentials")}
    deadline, seen = time.monotonic() + 3, set()
    while time.monotonic() < deadline and not expected <= seen:
        rows = await radius_db.fetch("SELECT username, reply, reason, host(nasipaddress) AS nas, callingstationid"
                                     " FROM radpostauth WHERE username = ANY($1)",
                                     [active["username"], suspended["username"]])
        seen = {(r["username"], r["reply"], r["reason"]) for r in rows}
        await asyncio.sleep(0.05)
    assert expected <= seen
    assert {r["nas"] for r in rows} == {"127.0.0.1"}
    assert "aa:bb:cc:00:11:22" in {r["callingstationid"] for r in rows}
