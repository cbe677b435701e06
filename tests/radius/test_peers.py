"""Several nodes' workers on one database, without FreeRADIUS: what one node folds reaches another's tracker, a
node whose heartbeat lapsed reloads, and a node waits (not spins) while another holds the fold's lock."""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest

from radius_module import worker as worker_module
from radius_module.sessions import OpenSessions
from radius_module.snapshot import PolicySnapshot
from radius_module.worker import Worker
from tests.support.waiting import wait_until

JOURNAL = ("INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, nasipaddress, event_time,"
           " inputoctets, outputoctets) VALUES (%s, %s, %s, %s, '127.0.0.9', now(), %s, 0)")
LOCK = "SELECT pg_advisory_xact_lock(hashtext('radbill_fold_accounting'))"


@pytest.fixture(scope="module")
def url(pg_server):
    """One database for the module (each test uses its own usernames): creating one costs seconds."""
    return pg_server.create_database("radbill_peers")


class CountingWorker(Worker):
    folds = 0

    def fold(self, *args, **kwargs) -> int:
        self.folds += 1
        return super().fold(*args, **kwargs)


def _worker(url: str, cls=Worker) -> Worker:
    w = cls(url, PolicySnapshot(), OpenSessions(timedelta(minutes=10)))
    w.on_accounting = lambda rows, w=w: _track(w, rows)
    w.on_peer_accounting = w.on_accounting
    return w


def _track(w: Worker, rows) -> None:
    """The tracker's part of radius_module.hooks.account, on this worker's own OpenSessions."""
    from radius_module.sessions import Session

    for status, username, uid, nas_ip, sid, framed, _calling, octets in rows:
        if status == "Stop":
            w.sessions.stop(uid, username, int(octets))
        elif status in ("Start", "Interim-Update"):
            w.sessions.touch(uid, Session(username, nas_ip, sid, framed, w.clock(), int(octets)))


def test_a_session_folded_by_one_node_counts_on_the_other_and_its_stop_too(url):
    a, b = _worker(url), _worker(url)
    for w in (a, b):
        w.start()
        assert w.connected.wait(10)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(JOURNAL, ("Start", "s1", "u-peer-1", "peeruser", 0))
            assert wait_until(lambda: a.sessions.count("peeruser", a.clock()) == 1
                              and b.sessions.count("peeruser", b.clock()) == 1, timeout=3)
            conn.execute(JOURNAL, ("Stop", "s1", "u-peer-1", "peeruser", 700))
            assert wait_until(lambda: a.sessions.count("peeruser", a.clock()) == 0
                              and b.sessions.count("peeruser", b.clock()) == 0, timeout=3)
            # the node that did not fold the Stop counts its octets too (a data cap's closed usage)
            assert a.sessions.closed_octets["peeruser"] == b.sessions.closed_octets["peeruser"] == 700
    finally:
        a.stop()
        b.stop()


def test_a_node_waits_while_another_holds_the_folds_lock(url):
    w = _worker(url, CountingWorker)
    w.start()
    assert w.connected.wait(10)
    try:
        with psycopg.connect(url) as other, psycopg.connect(url, autocommit=True) as conn:
            other.execute(LOCK)  # another node folding: held until `other` commits
            conn.execute(JOURNAL, ("Start", "s2", "u-peer-2", "peeruser2", 0))
            time.sleep(0.3)  # let the worker notice the journal
            before = w.folds
            time.sleep(1.0)
            tries = w.folds - before
            other.rollback()
        # without the pause it retried in a busy loop: 312 tries in the second measured on a loaded 2-core box
        assert 0 < tries <= 1.0 / worker_module.PEER_FOLDING * 1.5, tries
        assert wait_until(lambda: w.sessions.count("peeruser2", w.clock()) == 1, timeout=3)
    finally:
        w.stop()


def test_a_node_whose_heartbeat_lapsed_reloads_from_radacct(url):
    w = _worker(url)
    w.start()
    assert w.connected.wait(10)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            # a session another node folded while the others took this one for dead (no feed written for it)
            conn.execute("INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,"
                         " heard_at) VALUES ('s3', 'u-peer-3', 'peeruser3', '127.0.0.9', now(), now())")
            assert w.sessions.count("peeruser3", w.clock()) == 0
            conn.execute("UPDATE radius_nodes SET seen_at = now() - interval '1 minute' WHERE instance = %s",
                         (w.peers.instance,))
            w.peers.next_beat = 0.0
            assert wait_until(lambda: w.sessions.count("peeruser3", w.clock()) == 1, timeout=3)
    finally:
        w.stop()
