"""Every branch of radbill.policy.decide, without I/O."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from radbill.policy import MESSAGES, PolicyRow, Request, Settings, Speeds, decide, format_rate, normalise_mac

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ROW = PolicyRow(username="alice", password="s3cret", status="active", speeds=Speeds(10000, 5000),
                expires_at=NOW + timedelta(days=10), ip_pool="home-pool")
REQ = Request(username="alice", calling_station_id="AA-BB-CC-DD-EE-FF", nas_ip="127.0.0.1")


def reply(decision):
    return dict(decision.reply)


def test_unknown_user_is_rejected_with_a_message():
    d = decide(None, REQ, NOW)
    assert (d.accept, d.reason) == (False, "unknown_user")
    assert reply(d) == {"Reply-Message": MESSAGES["unknown_user"]}
    assert d.config == ()


def test_active_user_is_accepted_with_all_attributes():
    d = decide(ROW, REQ, NOW, Settings(acct_interim_interval=120))
    assert (d.accept, d.reason) == (True, "ok")
    assert dict(d.config) == {"Cleartext-Password": "s3cret"}
    assert reply(d) == {"Mikrotik-Rate-Limit": "5M/10M", "Framed-Pool": "home-pool",
                        "Session-Timeout": str(10 * 86400), "Acct-Interim-Interval": "120"}


def test_session_timeout_never_passes_the_expiry():
    d = decide(replace(ROW, expires_at=NOW + timedelta(seconds=90.7)), REQ, NOW)
    assert reply(d)["Session-Timeout"] == "90"


def test_no_expiry_means_no_session_timeout():
    assert "Session-Timeout" not in reply(decide(replace(ROW, expires_at=None), REQ, NOW))


def test_static_ip_customer_gets_framed_ip_instead_of_pool():
    d = decide(replace(ROW, static_ip="10.20.0.7"), REQ, NOW)
    assert reply(d)["Framed-IP-Address"] == "10.20.0.7"
    assert "Framed-Pool" not in reply(d)


@pytest.mark.parametrize("status", ["disabled"])
def test_disabled_is_rejected_even_with_a_walled_garden(status):
    d = decide(replace(ROW, status=status, suspended_pool="pay-pool"), REQ, NOW)
    assert (d.accept, d.reason) == (False, "disabled")
    assert reply(d) == {"Reply-Message": MESSAGES["disabled"]}


@pytest.mark.parametrize(("change", "reason"), [
    ({"status": "suspended"}, "suspended"),
    ({"expires_at": NOW - timedelta(seconds=1)}, "expired"),
    ({"expires_at": NOW}, "expired"),
])
def test_suspended_and_expired_are_rejected_without_a_pool(change, reason):
    d = decide(replace(ROW, **change), REQ, NOW)
    assert (d.accept, d.reason) == (False, reason)
    assert reply(d)["Reply-Message"] == MESSAGES[reason]


@pytest.mark.parametrize(("change", "reason"), [
    ({"status": "suspended"}, "suspended"),
    ({"expires_at": NOW - timedelta(days=3)}, "expired"),
])
def test_suspended_and_expired_go_to_the_walled_garden_when_configured(change, reason):
    row = replace(ROW, suspended_pool="pay-pool", suspended_rate_limit="128k/128k", suspended_session_timeout=600,
                  **change)
    d = decide(row, REQ, NOW)
    assert (d.accept, d.reason) == (True, reason)
    assert reply(d)["Framed-Pool"] == "pay-pool"
    assert reply(d)["Mikrotik-Rate-Limit"] == "128k/128k"
    assert reply(d)["Session-Timeout"] == "600"
    assert reply(d)["Mikrotik-Address-List"] == "radbill-suspended"
    assert dict(d.config) == {"Cleartext-Password": "s3cret"}


@pytest.mark.parametrize("seen", ["aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF", "aabb.ccdd.eeff", "AABBCCDDEEFF"])
def test_mac_binding_accepts_any_notation_of_the_bound_address(seen):
    d = decide(replace(ROW, mac_address="aa:bb:cc:dd:ee:ff"), replace(REQ, calling_station_id=seen), NOW)
    assert d.accept


@pytest.mark.parametrize("seen", ["aa:bb:cc:dd:ee:00", None, "", "not-a-mac", "aa:bb:cc:dd:ee:ff:00"])
def test_mac_binding_rejects_other_devices(seen):
    d = decide(replace(ROW, mac_address="aa:bb:cc:dd:ee:ff"), replace(REQ, calling_station_id=seen), NOW)
    assert (d.accept, d.reason) == (False, "mac_mismatch")


def test_mac_mismatch_wins_over_the_walled_garden():
    row = replace(ROW, status="suspended", suspended_pool="pay", mac_address="aa:bb:cc:dd:ee:ff")
    d = decide(row, replace(REQ, calling_station_id="11:22:33:44:55:66"), NOW)
    assert d.reason == "mac_mismatch" and not d.accept


@pytest.mark.parametrize(("limit", "open_sessions", "accepted"), [(1, 0, True), (1, 1, False), (2, 1, True),
                                                                   (2, 2, False), (None, 50, True)])
def test_simultaneous_use(limit, open_sessions, accepted):
    d = decide(replace(ROW, simultaneous_use=limit), replace(REQ, open_sessions=open_sessions), NOW)
    assert d.accept is accepted
    assert d.reason == ("ok" if accepted else "simultaneous_use")


def test_data_cap_crossed_switches_to_the_throttled_rate():
    row = replace(ROW, data_cap_bytes=1000, throttled_speeds=Speeds(1000, 512))
    assert reply(decide(replace(row, usage_bytes=999), REQ, NOW))["Mikrotik-Rate-Limit"] == "5M/10M"
    assert reply(decide(replace(row, usage_bytes=1000), REQ, NOW))["Mikrotik-Rate-Limit"] == "512k/1M"


def test_every_decision_explains_its_checks():
    d = decide(replace(ROW, simultaneous_use=1), replace(REQ, open_sessions=1), NOW)
    names = [(c.name, c.outcome) for c in d.checks]
    assert names == [("known_user", "pass"), ("mac_binding", "skip"), ("suspended", "pass"), ("expired", "pass"),
                     ("simultaneous_use", "fail")]


@pytest.mark.parametrize(("change", "reason"), [
    ({"status": "disabled"}, "disabled"),
    ({"status": "suspended"}, "suspended"),
    ({"expires_at": NOW - timedelta(minutes=1)}, "expired"),
    ({"mac_address": "00:00:00:00:00:01"}, "mac_mismatch"),
])
def test_the_account_state_wins_over_a_session_still_open(change, reason):
    # issue 12 #5: the old session of a suspended customer is still open when they try again; they must hear
    # what to do ("suspended: pay"), not "already online on another device"
    d = decide(replace(ROW, simultaneous_use=1, **change), replace(REQ, open_sessions=1), NOW)
    assert (d.accept, d.reason) == (False, reason)


def test_the_walled_garden_is_offered_even_with_a_session_still_open():
    row = replace(ROW, status="suspended", suspended_pool="pay-pool", simultaneous_use=1)
    d = decide(row, replace(REQ, open_sessions=1), NOW)
    assert (d.accept, d.reason) == (True, "suspended")


@pytest.mark.parametrize(("kbps", "text"), [(10000, "10M"), (512, "512k"), (1500, "1500k"), (1000, "1M")])
def test_format_rate(kbps, text):
    assert format_rate(kbps) == text


def test_burst_rate_limit():
    speeds = Speeds(10000, 5000, burst_download_kbps=20000, burst_upload_kbps=10000, burst_time_seconds=16)
    assert speeds.rate_limit() == "5M/10M 10M/20M 3750k/7500k 16/16"


def test_normalise_mac():
    assert normalise_mac("AA:BB:CC:DD:EE:FF") == "aa:bb:cc:dd:ee:ff"
    assert normalise_mac("zz:bb:cc:dd:ee:ff") is None


def test_policy_reasons_lists_every_reason_decide_gives():
    # explain's agreement test with the live server walks POLICY_REASONS: a reason missing here goes untested
    import inspect
    import itertools
    import re

    from radbill.policy import decide as decide_module
    from radbill.policy.decide import POLICY_REASONS

    source = inspect.getsource(decide_module)
    assert set(re.findall(r'reject\("(\w+)"', source)) <= set(POLICY_REASONS)
    rows = [None] + [replace(ROW, status=status, expires_at=expires, mac_address=mac, simultaneous_use=1,
                             suspended_pool=pool)
                     for status, expires, mac, pool in itertools.product(
                         ("active", "suspended", "disabled"), (None, NOW - timedelta(days=1)),
                         (None, "00:00:00:00:00:01"), (None, "pay"))]
    seen = {decide(row, replace(REQ, open_sessions=n), NOW).reason for row in rows for n in (0, 1)}
    assert seen == set(POLICY_REASONS)
