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


async def _rows_for(radius_db, username, want=1, seconds=3.0):
    deadline, rows = time.monotonic() + seconds, []
    while time.monotonic() < deadline and len(rows) < want:
        rows = await radius_db.fetch("SELECT username, reply, reason, callingstationid FROM radpostauth"
                                     " WHERE username = $1", username)
        await asyncio.sleep(0.05)
    return rows


async def test_a_hostile_user_name_is_logged_as_sent_and_forges_nothing(radius, radius_db):
    # linelog escapes nothing: a name with spaces and '%' must not split or forge a log line (a newline is a
    # control byte: such names are refused before the log, see test_bad_names.py)
    # (and at most 64 octets: a longer name is refused before the log too)
    name = f"e{time.time_ns() % 10**6} Access-Accept accept%3Aok 1 admin - - প্রিয়"
    assert len(name.encode()) <= 64
    reply = login(radius, name, "whatever", Calling_Station_Id="de ad\tbe:ef")
    assert reply is not None and not reply.accepted
    rows = await _rows_for(radius_db, name)
    assert [(r["username"], r["reply"], r["reason"], r["callingstationid"]) for r in rows] == [
        (name, "Access-Reject", "unknown_user", "de ad\tbe:ef")]
    assert not await radius_db.fetchval("SELECT count(*) FROM radpostauth WHERE username = 'admin'")


async def test_a_log_file_left_by_a_previous_run_is_loaded(radius, radius_db):
    spool = radius.settings.state_dir / "spool"
    name = f"leftover{time.time_ns()}"
    (spool / "postauth.tsv.1000").write_text(f"1795663671 5 {name} Access-Accept accept:ok - - 10.1.2.3\n")
    rows = await _rows_for(radius_db, name)
    assert [(r["username"], r["reply"], r["reason"]) for r in rows] == [(name, "Access-Accept", "ok")]
    assert not (spool / "postauth.tsv.1000").exists()


async def test_a_log_that_cannot_be_written_does_not_refuse_logins(radius, radius_db):
    active = await new_customer(radius_db, radius)
    live = radius.settings.state_dir / "spool" / "postauth.tsv"
    assert login_when(radius, active["username"], active["radius_password"], lambda r: r.accepted)
    for _ in range(60):  # wait for the worker to take the file over
        if not live.exists():
            break
        await asyncio.sleep(0.05)
    live.mkdir()  # linelog's open() now fails (EISDIR), as on a full or read-only disk
    try:
        reply = login(radius, active["username"], active["radius_password"])
        assert reply is not None and reply.accepted
        assert not login(radius, active["username"], "wrong-password").accepted
        assert "Failed to open" in radius.log
    finally:
        live.rmdir()
    reply = login(radius, active["username"], active["radius_password"])
    assert reply.accepted
    # logging resumed: the first login and this one are logged, the two during the outage are not (login_when may
    # have met a snapshot that did not know the new customer yet: those rejects are logged too, as unknown_user)
    deadline, accepts = time.monotonic() + 3.0, []
    while time.monotonic() < deadline and len(accepts) < 2:
        rows = await _rows_for(radius_db, active["username"])
        accepts = [r for r in rows if r["reply"] == "Access-Accept"]
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # anything logged late (an outage login that should not be there) shows up too
    rows = await _rows_for(radius_db, active["username"])
    accepts = [r for r in rows if r["reply"] == "Access-Accept"]
    assert len(accepts) == 2
    assert {r["reason"] for r in rows if r["reply"] != "Access-Accept"} <= {"unknown_user"}
