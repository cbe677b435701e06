"""The hook functions called directly (as rlm_python3 calls them), for what a live server cannot provoke."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from radbill.policy import MESSAGES, PolicyRow, Speeds
from radius_module import hooks, rlm
from radius_module.attrs import request_values
from radius_module.sessions import OpenSessions
from radius_module.snapshot import PolicySnapshot

ROW = PolicyRow(username="alice", password="pw", status="active", speeds=Speeds(10000, 5000),
                expires_at=datetime.now(UTC) + timedelta(days=3))
REQUEST = (("User-Name", '"alice"'), ("NAS-IP-Address", "127.0.0.1"), ("User-Password", '"pw"'))


@pytest.fixture
def state(monkeypatch):
    snapshot = PolicySnapshot()
    snapshot.replace_all([ROW])
    monkeypatch.setattr(hooks.State, "snapshot", snapshot)
    monkeypatch.setattr(hooks.State, "sessions", OpenSessions(timedelta(minutes=16)))
    monkeypatch.setattr(hooks.State, "worker", None)
    return snapshot


def test_authorize_returns_tuples_of_string_tuples(state):
    code, lists = hooks.authorize(REQUEST)
    assert code == rlm.UPDATED
    pairs = lists["reply"] + lists["config"] + lists["request"]
    assert all(isinstance(p, tuple) and all(isinstance(x, str) for x in p) for p in pairs)
    assert ("Cleartext-Password", "pw") in lists["config"]
    assert lists["request"] == (("Radbill-Reason", "accept:ok"),)


def test_authorize_reads_the_pass_all_vps_form(state):
    code, _ = hooks.authorize((REQUEST, (), (), (), (), ()))
    assert code == rlm.UPDATED


def test_an_exception_in_authorize_becomes_a_reject_never_an_accept(state):
    state.replace_all([replace(ROW, speeds=None)])  # a row the policy cannot render: rate_limit() raises
    code, lists = hooks.authorize(REQUEST)
    assert code == rlm.REJECT
    assert lists["reply"] == (("Reply-Message", MESSAGES["error"]),)
    assert "config" not in lists


def test_before_the_snapshot_loads_logins_get_a_temporary_error(monkeypatch):
    monkeypatch.setattr(hooks.State, "snapshot", PolicySnapshot())
    code, lists = hooks.authorize(REQUEST)
    assert code == rlm.REJECT
    assert lists["reply"] == (("Reply-Message", MESSAGES["error"]),)


def test_request_values_unquote_strings_and_keep_only_what_was_asked_for():
    names = frozenset({"User-Name", "NAS-IP-Address"})
    want = {"User-Name": "alice", "NAS-IP-Address": "127.0.0.1"}
    assert request_values(REQUEST, names) == want
    assert request_values((REQUEST, (("User-Name", '"reply-list"'),), (), (), (), ()), names) == want
    assert request_values({"request": REQUEST, "reply": ()}, names) == want
    assert request_values((("User-Name", '"first"'), ("User-Name", '"second"')), names) == {"User-Name": "first"}
    assert request_values((), names) == {}


def test_the_fast_decision_is_the_explained_decision_without_its_checks(state):
    from radbill.policy import Request, decide

    now = datetime.now(UTC)
    for row in (ROW, replace(ROW, status="suspended"), replace(ROW, status="suspended", suspended_pool="pay"),
                replace(ROW, mac_address="aa:bb:cc:dd:ee:ff"), replace(ROW, simultaneous_use=0), None,
                replace(ROW, expires_at=now - timedelta(seconds=1)), replace(ROW, status="disabled")):
        request = Request(username="alice", calling_station_id="11:22:33:44:55:66", nas_ip="10.0.0.1", open_sessions=0)
        explained, fast = decide(row, request, now), decide(row, request, now, explain=False)
        assert fast == explained and explained.checks and not fast.checks


def test_stale_sessions_do_not_count():
    sessions = OpenSessions(timedelta(minutes=5))
    from radius_module.sessions import Session

    now = datetime.now(UTC)
    sessions.touch("u1", Session("alice", "10.0.0.1", "s1", None, now - timedelta(minutes=10)))
    sessions.touch("u2", Session("alice", "10.0.0.1", "s2", None, now))
    assert sessions.count("alice", now) == 1
    assert sessions.close_nas("10.0.0.1") == 2
    assert sessions.count("alice", now) == 0


class QueueingWorker:
    def __init__(self):
        self.queued = []

    def queue_outbox(self, kind, username, payload, dedupe_key):
        self.queued.append((kind, dedupe_key))


def test_crossing_the_cap_again_in_the_next_window_queues_a_new_coa(state, monkeypatch):
    """The CoA's dedupe key names the window: a long session throttled last month is throttled again this month
    (with one key per session, the outbox would drop the second CoA as a duplicate)."""
    worker = QueueingWorker()
    monkeypatch.setattr(hooks.State, "worker", worker)
    november = datetime(2026, 11, 30, 18, tzinfo=UTC)
    for month, window_end in enumerate((november, november + timedelta(days=31))):
        state.replace_all([replace(ROW, data_cap_bytes=1000, throttled_speeds=Speeds(1000, 512),
                                   usage_resets_at=window_end)])
        hooks.State.sessions.start_window(["alice"])  # the octets so far belong to the previous window
        base = 1500 * month  # the session's counter does not restart
        hooks.account("Interim-Update", "alice", "u1", "127.0.0.1", "s1", None, None, base + 500)
        hooks.account("Interim-Update", "alice", "u1", "127.0.0.1", "s1", None, None, base + 1500)
    keys = [key for kind, key in worker.queued if kind == "coa"]
    assert len(keys) == 2 and len(set(keys)) == 2
