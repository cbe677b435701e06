"""The fold equals the stock queries applied one by one in arrival order, whatever the batch split; and the session
tracker fed from the fold's answer agrees with radacct. The reference below is plain Python, written from the rules
in sql/migrations/0012_fold_in_arrival_order.sql."""

import itertools
from datetime import UTC, datetime, timedelta

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from radius_module import hooks
from radius_module.sessions import OpenSessions

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
_nas = itertools.count(1)
COLUMNS = ("username", "acctstarttime", "acctupdatetime", "acctstoptime", "acctsessiontime", "acctinterval",
           "connectinfo_start", "connectinfo_stop", "acctinputoctets", "acctoutputoctets", "acctterminatecause",
           "framedipaddress")


def reference(packets: list[dict]) -> tuple[dict[str, dict], datetime | None]:
    """radacct (by acctuniqueid) and the NAS's reload time after applying each packet alone, in arrival order."""
    rows: dict[str, dict] = {}
    reload = None
    for p in packets:
        e, row = p["event_time"], rows.get(p["uid"])
        if p["status"] in ("Accounting-On", "Accounting-Off"):
            for r in rows.values():
                if r["acctstoptime"] is None:  # one NAS in this test: every open session is that NAS's
                    r.update(acctstoptime=e, acctupdatetime=e, acctterminatecause=p["cause"] or "NAS-Reboot",
                             acctsessiontime=max(0, int((e - r["acctstarttime"]).total_seconds())))
            reload = e
        elif row is not None and row["acctstoptime"] is not None:
            continue  # a closed session is never changed again
        elif p["status"] == "Start":
            if row is None:
                rows[p["uid"]] = new_row(p, start=e, sessiontime=0, octets=(0, 0), stop=None, cause=None)
            else:
                row.update(acctstarttime=e, acctupdatetime=e, connectinfo_start=p["connectinfo"])
        elif p["status"] == "Interim-Update":
            if row is None:
                rows[p["uid"]] = new_row(p, start=e, sessiontime=p["sessiontime"], octets=p["octets"], stop=None,
                                         cause=None)
            else:
                since = row["acctupdatetime"] or row["acctstarttime"]
                row.update(framedipaddress=p["framed"], acctsessiontime=p["sessiontime"], acctupdatetime=e,
                           acctinterval=int((e - since).total_seconds()), acctinputoctets=p["octets"][0],
                           acctoutputoctets=p["octets"][1])
        elif p["status"] == "Stop":
            if row is None:
                start = e - timedelta(seconds=p["sessiontime"] or 0)
                rows[p["uid"]] = new_row(p, start=start, sessiontime=p["sessiontime"], octets=p["octets"], stop=e,
                                         cause=p["cause"])
            else:
                seconds = p["sessiontime"]
                row.update(acctstoptime=e, acctupdatetime=e, acctinputoctets=p["octets"][0],
                           acctoutputoctets=p["octets"][1], acctterminatecause=p["cause"], framedipaddress=p["framed"],
                           connectinfo_stop=p["connectinfo"],
                           acctsessiontime=seconds if seconds is not None else int(
                               (e - row["acctstarttime"]).total_seconds()))
    return rows, reload


def new_row(p, *, start, sessiontime, octets, stop, cause) -> dict:
    return {"username": p["user"], "acctstarttime": start, "acctupdatetime": p["event_time"], "acctstoptime": stop,
            "acctsessiontime": sessiontime, "acctinterval": None, "connectinfo_start": p["connectinfo"],
            "connectinfo_stop": None, "acctinputoctets": octets[0], "acctoutputoctets": octets[1],
            "acctterminatecause": cause, "framedipaddress": p["framed"]}


SESSION_PACKET = st.fixed_dictionaries({
    "status": st.sampled_from(["Start", "Interim-Update", "Stop"]),
    "session": st.integers(0, 2),
    "second": st.integers(0, 3),  # few distinct seconds: packets share a timestamp as often as in real life
    "sessiontime": st.one_of(st.none(), st.integers(0, 300)),
    "octets": st.tuples(st.integers(0, 2**40), st.integers(0, 1000)),
    "cause": st.sampled_from(["", "User-Request"]),
    "framed": st.sampled_from(["10.1.0.5", "10.1.0.6"]),
    "connectinfo": st.sampled_from(["", "1Gbps", "100Mbps"]),
})
NAS_PACKET = st.fixed_dictionaries({
    "status": st.sampled_from(["Accounting-On", "Accounting-Off"]), "second": st.integers(0, 3),
    "cause": st.sampled_from(["", "Admin-Reboot"]),
})
SCRIPT = st.lists(st.tuples(st.one_of(SESSION_PACKET, SESSION_PACKET, NAS_PACKET), st.booleans()),
                  min_size=1, max_size=14)


def journal(conn, nas: str, p: dict) -> None:
    conn.execute(
        "INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, nasipaddress, event_time,"
        " sessiontime, inputoctets, outputoctets, terminatecause, framedipaddress, connectinfo)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (p["status"], p["uid"], p["uid"], p["user"], nas, p["event_time"], p["sessiontime"], p["octets"][0],
         p["octets"][1], p["cause"], p["framed"], p["connectinfo"]))


def packets_of(script, nas: str) -> list[dict]:
    out = []
    for raw, _ in script:
        p = {"sessiontime": None, "octets": (0, 0), "framed": None, "connectinfo": "", **raw,
             "event_time": T0 + timedelta(seconds=raw["second"])}
        if "session" in raw:
            p["uid"], p["user"] = f"{nas}-{raw['session']}", f"fold-user-{raw['session'] % 2}"
        else:
            p["uid"], p["user"] = "", ""
        out.append(p)
    return out


@settings(max_examples=80)  # each example folds against Postgres several times: ~15 s
@given(script=SCRIPT, batch=st.integers(1, 6))
def test_any_interleaving_folds_like_the_packets_one_by_one(shared_db_url, script, batch):
    n = next(_nas)
    nas = f"10.77.{n // 250}.{n % 250 + 1}"
    packets = packets_of(script, nas)
    hooks.State.sessions = tracker = OpenSessions(timedelta(days=1))
    with psycopg.connect(shared_db_url, autocommit=True) as conn:
        for p, (_, fold_now) in zip(packets, script, strict=True):
            journal(conn, nas, p)
            if fold_now:  # arbitrary batch splits: after some packets, and by the fold's own batch size
                fold(conn, batch)
        fold(conn, batch)
        got = {r[0]: dict(zip(COLUMNS, r[1:], strict=True)) for r in conn.execute(
            f"SELECT acctuniqueid, {', '.join(COLUMNS[:-1])}, host(framedipaddress) FROM radacct"
            " WHERE nasipaddress = %s", (nas,))}
        reload = conn.execute("SELECT reloadtime FROM nasreload WHERE nasipaddress = %s", (nas,)).fetchone()
    want, want_reload = reference(packets)
    assert got == want
    assert (reload[0] if reload else None) == want_reload
    assert_tracker_agrees(tracker, got)


def fold(conn, batch: int) -> None:
    while True:
        rows = conn.execute(
            "SELECT status, username, acctuniqueid, host(nasipaddress), acctsessionid, host(framedipaddress),"
            " callingstationid, inputoctets + outputoctets FROM radbill_fold_accounting(%s)", (batch,)).fetchall()
        hooks.apply_accounting(rows)
        if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM radacct_journal)").fetchone()[0]:
            return


def assert_tracker_agrees(tracker: OpenSessions, radacct: dict[str, dict]) -> None:
    """Open sessions and their octets as radacct says; closed octets counted once per closed session."""
    open_rows = {uid: r for uid, r in radacct.items() if r["acctstoptime"] is None}
    assert {uid: s.octets for uid, s in tracker._by_id.items()} == {
        uid: r["acctinputoctets"] + r["acctoutputoctets"] for uid, r in open_rows.items()}
    closed: dict[str, int] = {}
    for r in radacct.values():
        if r["acctstoptime"] is not None:
            closed[r["username"]] = closed.get(r["username"], 0) + r["acctinputoctets"] + r["acctoutputoctets"]
    assert {u: n for u, n in tracker.closed_octets.items() if n or u in closed} == closed
