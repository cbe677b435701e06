"""Accounting end to end, in both RADBILL_ACCT_WRITE modes: rlm_sql stores every packet durably in radacct_journal
before the reply ("sql"), or linelog appends it to the node's spool and the worker loads the spool into the journal
("spool"); the module's worker folds the journal into radacct (stock rules) and tracks sessions from the fold,
queueing outbox rows."""

import asyncio
import hashlib
import itertools
import json
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from radbill.policy import Speeds
from radbill.policy.vendors import rate_attributes
from radbill.services import customers as svc
from tests import factories as f
from tests.billing.helpers import scope_of
from tests.radius.test_authorize import login, login_when, new_customer
from tests.support.radius import wait_folded
from tests.support.waiting import wait_until

_n = itertools.count(1)


@pytest.fixture(scope="module", params=["sql", "spool"])
def radius(request):
    """Every test here runs against both accounting modes."""
    return request.getfixturevalue(f"radius_{request.param}")


def acct(radius, username, session_id, status, nas_ip="127.0.0.1", **attrs):
    """One Accounting-Request; like a real NAS, every packet of a session repeats its Framed-IP-Address."""
    if status not in ("Accounting-On", "Accounting-Off"):
        attrs.setdefault("Framed_IP_Address", "10.1.0.5")
    client = radius.client()
    req = client.accounting_request(User_Name=username, Acct_Session_Id=session_id, Acct_Status_Type=status,
                                    NAS_IP_Address=nas_ip, NAS_Port=1, **attrs)
    reply = client.send(req)
    assert reply is not None and reply.code == "Accounting-Response", f"{status} was not acknowledged\n{radius.log[-3000:]}"
    return reply


def session_id() -> str:
    return f"S{next(_n):05d}-{int(time.time() * 1000) % 10**8}"


async def rows(conn, url, username):
    wait_folded(url)
    return await conn.fetch("SELECT * FROM radacct WHERE username = $1 ORDER BY radacctid", username)


async def test_start_interim_stop_with_duplicates_makes_one_row(radius, radius_db):
    c = await new_customer(radius_db, radius)
    sid, user = session_id(), c["username"]
    acct(radius, user, sid, "Start")
    acct(radius, user, sid, "Start", Acct_Delay_Time=5)  # a retransmit: the NAS waited 5 s
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=1000, Acct_Output_Octets=2000, Acct_Session_Time=60)
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=1000, Acct_Output_Octets=2000, Acct_Session_Time=60,
         Acct_Delay_Time=3)
    acct(radius, user, sid, "Stop", Acct_Input_Octets=5000, Acct_Output_Octets=9000, Acct_Session_Time=120,
         Acct_Terminate_Cause="User-Request")
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=1, Acct_Output_Octets=1, Acct_Session_Time=61)
    acct(radius, user, sid, "Start")  # a late Start after the Stop must not reopen the session
    [row] = await rows(radius_db, radius.db_url, user)
    assert row["acctstoptime"] is not None
    assert (row["acctinputoctets"], row["acctoutputoctets"], row["acctsessiontime"]) == (5000, 9000, 120)
    assert row["acctterminatecause"] == "User-Request"
    assert str(row["framedipaddress"]) == "10.1.0.5"


async def test_out_of_order_packets_never_duplicate_rows(radius, radius_db):
    c = await new_customer(radius_db, radius)
    interim_first, stop_first = session_id(), session_id()
    acct(radius, c["username"], interim_first, "Interim-Update", Acct_Input_Octets=10, Acct_Output_Octets=20)
    acct(radius, c["username"], interim_first, "Start")
    acct(radius, c["username"], stop_first, "Stop", Acct_Input_Octets=30, Acct_Output_Octets=40)
    acct(radius, c["username"], stop_first, "Start")
    by_session = {r["acctsessionid"]: r for r in await rows(radius_db, radius.db_url, c["username"])}
    assert set(by_session) == {interim_first, stop_first}
    assert by_session[interim_first]["acctstoptime"] is None
    assert by_session[interim_first]["acctinputoctets"] == 10
    assert by_session[stop_first]["acctstoptime"] is not None
    assert by_session[stop_first]["acctoutputoctets"] == 40


async def test_gigawords_count_sessions_over_4_gib(radius, radius_db):
    c = await new_customer(radius_db, radius)
    sid = session_id()
    acct(radius, c["username"], sid, "Start")
    acct(radius, c["username"], sid, "Stop", Acct_Input_Octets=1000, Acct_Input_Gigawords=2,
         Acct_Output_Octets=7, Acct_Output_Gigawords=1)
    [row] = await rows(radius_db, radius.db_url, c["username"])
    assert row["acctinputoctets"] == 2 * 2**32 + 1000
    assert row["acctoutputoctets"] == 2**32 + 7


async def test_simultaneous_use_follows_accounting(radius, radius_db):
    c = await new_customer(radius_db, radius, simultaneous_use=1)
    user, pw = c["username"], c["radius_password"]
    assert login_when(radius, user, pw, lambda r: r.accepted)
    sid = session_id()
    acct(radius, user, sid, "Start")
    reply = login_when(radius, user, pw, lambda r: r.code == "Access-Reject")  # once the Start is folded
    assert "already online" in reply.first("Reply-Message")
    acct(radius, user, sid, "Stop")
    assert login_when(radius, user, pw, lambda r: r.accepted)


async def test_accounting_on_closes_the_nas_sessions(radius, radius_db):
    c = await new_customer(radius_db, radius, simultaneous_use=1)
    user, pw = c["username"], c["radius_password"]
    assert login_when(radius, user, pw, lambda r: r.accepted)
    # the session is reported with NAS-IP-Address 127.0.0.9 (the packet itself still comes from 127.0.0.1)
    acct(radius, user, session_id(), "Start", nas_ip="127.0.0.9")
    assert login_when(radius, user, pw, lambda r: r.code == "Access-Reject")
    acct(radius, "", "", "Accounting-On", nas_ip="127.0.0.9")
    [row] = await rows(radius_db, radius.db_url, user)
    assert row["acctstoptime"] is not None and row["acctterminatecause"] == "NAS-Reboot"
    assert login_when(radius, user, pw, lambda r: r.accepted)


async def test_session_of_a_suspended_customer_queues_a_disconnect(radius, radius_db):
    c = await new_customer(radius_db, radius)
    user = c["username"]
    assert login_when(radius, user, c["radius_password"], lambda r: r.accepted)
    sid = session_id()
    acct(radius, user, sid, "Start", Framed_IP_Address="10.1.0.77")
    await radius_db.execute("UPDATE customers SET status = 'suspended' WHERE id = $1", c["id"])
    wait_until(lambda: login(radius, user, c["radius_password"]).code == "Access-Reject")
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=1, Acct_Output_Octets=1)
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=2, Acct_Output_Octets=2)  # dedupe: still one row

    async def outbox():
        return await radius_db.fetch("SELECT * FROM outbox WHERE payload->>'username' = $1", user)

    deadline = time.monotonic() + 3
    found = await outbox()
    while not found and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        found = await outbox()
    assert len(found) == 1
    assert found[0]["kind"] == "disconnect"
    payload = found[0]["payload"]
    assert '"reason": "suspended"' in payload and '"acct_session_id": "' + sid + '"' in payload
    assert found[0]["operator_id"] == radius.isp.sub["id"]


async def test_crossing_the_data_cap_queues_a_coa_and_throttles_new_logins(radius, radius_db):
    capped = await f.package(radius_db, radius.isp.operator["id"], data_cap_bytes=10_000,
                             throttled_download_kbps=1000, throttled_upload_kbps=500)
    c = await new_customer(radius_db, radius, package_id=capped["id"],
                           expires_at=datetime.now(UTC) + timedelta(days=20))
    user, pw = c["username"], c["radius_password"]
    assert login_when(radius, user, pw, lambda r: r.first("Mikrotik-Rate-Limit") == "5120k/10240k")
    sid = session_id()
    acct(radius, user, sid, "Start")
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=4000, Acct_Output_Octets=4000)
    acct(radius, user, sid, "Interim-Update", Acct_Input_Octets=6000, Acct_Output_Octets=6000)
    deadline = time.monotonic() + 3
    coa = []
    while not coa and time.monotonic() < deadline:
        coa = await radius_db.fetch("SELECT payload FROM outbox WHERE kind = 'coa' AND payload->>'username' = $1",
                                    user)
        await asyncio.sleep(0.05)
    assert len(coa) == 1
    assert rate_attributes("mikrotik", Speeds(**json.loads(coa[0]["payload"])["speeds"])) \
        == {"Mikrotik-Rate-Limit": "500k/1M"}
    assert login(radius, user, pw).first("Mikrotik-Rate-Limit") == "500k/1M"


async def test_a_start_right_after_an_accounting_on_survives_the_fold(radius, radius_db):
    """Issue 12 #2: On and Start from one NAS, the same second, folded in one batch: the Start stays open, its Stop's
    octets are kept, and suspending the customer meanwhile queues a Disconnect for it."""
    c = await new_customer(radius_db, radius, simultaneous_use=1)
    user, pw, sid, nas = c["username"], c["radius_password"], session_id(), "127.0.0.11"
    assert login_when(radius, user, pw, lambda r: r.accepted)
    second = int(time.time())
    with psycopg.connect(radius.db_url) as holder:  # the worker cannot fold until both packets are journalled
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('radbill_fold_accounting'))")
        acct(radius, "", "", "Accounting-On", nas_ip=nas, Event_Timestamp=second)
        acct(radius, user, sid, "Start", nas_ip=nas, Event_Timestamp=second)
    [row] = await rows(radius_db, radius.db_url, user)
    assert row["acctstoptime"] is None, f"the Start was closed as {row['acctterminatecause']}"
    assert login_when(radius, user, pw, lambda r: r.code == "Access-Reject")  # the tracker counts it, as radacct
    await svc.suspend_customer(radius_db, scope_of(radius.isp.sub), c["id"], "unpaid")
    queued = await radius_db.fetch("SELECT payload FROM outbox WHERE kind = 'disconnect' AND dedupe_key = $1",
                                   f"disconnect:{row['acctuniqueid']}:suspended")
    assert len(queued) == 1
    acct(radius, user, sid, "Stop", nas_ip=nas, Event_Timestamp=second + 60, Acct_Session_Time=60,
         Acct_Input_Octets=7000, Acct_Output_Octets=3000, Acct_Terminate_Cause="User-Request")
    [row] = await rows(radius_db, radius.db_url, user)
    assert (row["acctinputoctets"], row["acctoutputoctets"], row["acctterminatecause"]) == (7000, 3000, "User-Request")


async def test_a_session_keeps_the_stock_unique_id_whatever_its_text(radius, radius_db):
    """acctuniqueid is the stock acct_unique fallback, md5 of "user,session,NAS IP,NAS-Identifier,NAS-Port-Id,
    NAS-Port", for text with quotes, backslashes, '=' and non-ASCII too: sessions open when radbill is upgraded
    keep their row, and two sessions differing only in such a character stay two rows."""
    c = await new_customer(radius_db, radius)
    user, nas_id, port_id = c["username"], "core-1 <bras> 'north'", "<pppoe-রহিম=1\\x>"
    sids = [f"{session_id()}-a'b\\c=d,é", f"{session_id()}-a'b\\c=d,e"]
    for sid in sids:
        acct(radius, user, sid, "Start", NAS_Identifier=nas_id, NAS_Port_Id=port_id)
        acct(radius, user, sid, "Interim-Update", NAS_Identifier=nas_id, NAS_Port_Id=port_id, Acct_Input_Octets=5,
             Acct_Output_Octets=6, Acct_Session_Time=60)
    found = {r["acctuniqueid"]: r for r in await rows(radius_db, radius.db_url, user)}
    # rlm_sql stores the text escaped (stock: =27 for a quote), but the id is of the text the router sent
    expected = {hashlib.md5(f"{user},{sid},127.0.0.1,{nas_id},{port_id},1".encode()).hexdigest() for sid in sids}
    assert set(found) == expected
    assert {(r["acctinputoctets"], r["acctstoptime"]) for r in found.values()} == {(5, None)}
    if radius.settings.acct_write == "spool":  # the spool keeps the router's own text
        assert {r["acctsessionid"] for r in found.values()} == set(sids)
        assert {(r["nasportid"]) for r in found.values()} == {port_id}
