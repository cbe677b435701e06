"""radbill_fold_accounting: the journal rlm_sql appends to, folded into radacct with the stock queries' rules."""

import itertools
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from radius_module.worker import journal_waiting_or_wake_me

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
_n = itertools.count(1)


@pytest.fixture
def conn(shared_db_url):
    with psycopg.connect(shared_db_url, autocommit=True) as c:
        yield c


def packet(conn, status, uid, seconds=0, nas="10.9.0.1", user="folder", sessiontime=None, octets=(0, 0),
           cause="", framed="10.1.0.5"):
    conn.execute(
        "INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, nasipaddress, event_time,"
        " sessiontime, inputoctets, outputoctets, terminatecause, framedipaddress)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (status, f"s-{uid}", uid, user, nas, T0 + timedelta(seconds=seconds), sessiontime, octets[0], octets[1],
         cause, framed))


def fold(conn):
    return conn.execute("SELECT id, status, acctuniqueid FROM radbill_fold_accounting()").fetchall()


def row(conn, uid):
    rows = conn.execute("SELECT acctstarttime, acctstoptime, acctupdatetime, acctsessiontime, acctinputoctets,"
                        " acctoutputoctets, acctterminatecause, host(framedipaddress) AS ip FROM radacct"
                        " WHERE acctuniqueid = %s", (uid,)).fetchall()
    assert len(rows) <= 1
    return rows[0] if rows else None


def uid():
    return f"fold-{next(_n)}-{datetime.now(UTC).timestamp()}"


@pytest.mark.parametrize("batches", ["one batch", "one packet per batch"])
def test_a_session_with_retransmits_ends_as_one_closed_row(conn, batches):
    u = uid()
    script = [("Start", 0, {}), ("Start", 0, {}), ("Interim-Update", 60, {"sessiontime": 60, "octets": (10, 20)}),
              ("Interim-Update", 60, {"sessiontime": 60, "octets": (10, 20)}),
              ("Stop", 120, {"sessiontime": 120, "octets": (5 * 2**32 + 1, 7), "cause": "User-Request"}),
              ("Interim-Update", 61, {"sessiontime": 61, "octets": (1, 1)}), ("Start", 0, {})]
    for status, at, kw in script:
        packet(conn, status, u, at, **kw)
        if batches != "one batch":
            fold(conn)
    fold(conn)
    start, stop, updated, seconds, inp, out, cause, ip = row(conn, u)
    assert (start, stop, seconds, inp, out, cause, ip) == (
        T0, T0 + timedelta(seconds=120), 120, 5 * 2**32 + 1, 7, "User-Request", "10.1.0.5")


def test_an_interim_before_its_start_opens_the_session(conn):
    u = uid()
    packet(conn, "Interim-Update", u, 30, sessiontime=30, octets=(3, 4))
    fold(conn)
    assert row(conn, u)[1] is None and row(conn, u)[4:6] == (3, 4)
    packet(conn, "Start", u, 0)
    fold(conn)
    start, stop, *_ = row(conn, u)
    assert start == T0 and stop is None


def test_a_stop_before_its_start_stores_a_closed_session_that_stays_closed(conn):
    u = uid()
    packet(conn, "Stop", u, 100, sessiontime=100, octets=(30, 40))
    fold(conn)
    packet(conn, "Start", u, 0)
    packet(conn, "Interim-Update", u, 50, sessiontime=50, octets=(1, 1))
    fold(conn)
    start, stop, _, seconds, inp, out, *_ = row(conn, u)
    assert (start, stop, seconds, inp, out) == (T0, T0 + timedelta(seconds=100), 100, 30, 40)


def test_accounting_on_closes_only_that_nas_sessions_started_before_it(conn):
    before, after, elsewhere = uid(), uid(), uid()
    packet(conn, "Start", before, 0, nas="10.9.9.1")
    packet(conn, "Start", elsewhere, 0, nas="10.9.9.2")
    packet(conn, "Accounting-On", "", 10, nas="10.9.9.1", user="")
    packet(conn, "Start", after, 20, nas="10.9.9.1")
    fold(conn)
    assert row(conn, before)[1] == T0 + timedelta(seconds=10) and row(conn, before)[6] == "NAS-Reboot"
    assert row(conn, elsewhere)[1] is None and row(conn, after)[1] is None
    reload = conn.execute("SELECT reloadtime FROM nasreload WHERE nasipaddress = '10.9.9.1'").fetchone()
    assert reload == (T0 + timedelta(seconds=10),)


def test_a_start_right_after_an_accounting_on_in_the_same_second_stays_open(conn):
    before, after = uid(), uid()
    packet(conn, "Start", before, 0, nas="10.9.9.3")
    fold(conn)
    packet(conn, "Accounting-On", "", 5, nas="10.9.9.3", user="")
    packet(conn, "Start", after, 5, nas="10.9.9.3")  # arrived 1 ms later: same second, same batch
    fold(conn)
    packet(conn, "Stop", after, 65, nas="10.9.9.3", sessiontime=60, octets=(700, 300), cause="User-Request")
    fold(conn)
    assert row(conn, before)[1] == T0 + timedelta(seconds=5) and row(conn, before)[6] == "NAS-Reboot"
    start, stop, _, seconds, inp, out, cause, _ = row(conn, after)
    assert (start, stop, seconds, inp, out, cause) == (
        T0 + timedelta(seconds=5), T0 + timedelta(seconds=65), 60, 700, 300, "User-Request")


def test_the_fold_hands_back_nas_restarts_then_each_changed_session_as_it_now_is(conn):
    u, closed_before, quiet = uid(), uid(), uid()
    packet(conn, "Stop", closed_before, 10, nas="10.9.9.4")
    packet(conn, "Start", quiet, 0, nas="10.9.9.4", octets=(0, 0))
    fold(conn)
    for status in ("Start", "Interim-Update", "Interim-Update"):
        packet(conn, status, u, nas="10.9.9.4")
    packet(conn, "Start", closed_before, 20, nas="10.9.9.4")  # the session is closed: nothing to hand back
    packet(conn, "Accounting-Off", "", 30, nas="10.9.9.4", user="")
    back = [(r[1], r[2]) for r in fold(conn)]
    assert back == [("Accounting-Off", ""), ("Stop", quiet), ("Stop", u)]
    assert conn.execute("SELECT count(*) FROM radacct_journal").fetchone() == (0,)


def test_one_folder_at_a_time(conn, shared_db_url):
    u = uid()
    packet(conn, "Start", u)
    with psycopg.connect(shared_db_url) as other:  # holds the fold's lock in an open transaction
        assert [r for r in other.execute("SELECT acctuniqueid FROM radbill_fold_accounting()")] == [(u,)]
        assert fold(conn) == []  # the second caller returns at once instead of waiting or folding twice
    assert row(conn, u) is not None


def test_a_packet_radacct_could_not_hold_is_refused_at_the_door(conn):
    with pytest.raises(psycopg.errors.NotNullViolation):
        conn.execute("INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, nasipaddress, event_time,"
                     " inputoctets, outputoctets) VALUES ('Start', 's', 'u', NULL, now(), 0, 0)")


def test_a_packet_wakes_the_worker_only_when_it_is_idle(conn, shared_db_url):
    fold(conn)
    with psycopg.connect(shared_db_url, autocommit=True) as listener:
        listener.execute("LISTEN radbill_accounting")
        assert journal_waiting_or_wake_me(conn) is False  # nothing to fold: wake me
        first, second = uid(), uid()
        packet(conn, "Start", first)
        assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == ["radbill_accounting"]
        fold(conn)  # the worker is busy now: it looks at the journal again after this fold, so no NOTIFY
        packet(conn, "Start", second)
        assert list(listener.notifies(timeout=0.2)) == []
        assert journal_waiting_or_wake_me(conn) is True
    fold(conn)
