"""The post-auth spool: the line format linelog writes (raddb/mods/linelog) and the file hand-over."""

import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from radius_module.spool import Spool, parse_line, unescape

SAFE = set(b"@abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:")  # raddb/mods/expr


def escape(value: str | bytes) -> str:
    """What rlm_expr's %{escape:...} writes: "=XX" for every byte outside the safe characters."""
    raw = value.encode() if isinstance(value, str) else value
    return "".join(chr(b) if b in SAFE else f"={b:02X}" for b in raw)


def line(user="alice", reply="Access-Accept", verdict="accept:ok", called="", calling="aa:bb", nas="10.0.0.1",
         stamp="1795663671 38980"):
    return " ".join([stamp, escape(user), reply, verdict, escape(called), escape(calling), nas]) + "\n"


def test_a_line_becomes_a_radpostauth_row():
    assert parse_line(line()) == ("alice", "Access-Accept", "ok", None, "aa:bb", "10.0.0.1",
                                  datetime(2026, 11, 26, 3, 27, 51, 38980, tzinfo=UTC))


def test_microseconds_are_an_integer_not_a_fraction():
    # %M prints 38980 for 0.038980 s, without leading zeros
    assert parse_line(line(stamp="1795663671 7"))[-1].microsecond == 7
    assert parse_line(line(stamp="1795663671 999999"))[-1].microsecond == 999999


def test_a_reject_after_an_accepting_policy_is_a_wrong_password():
    assert parse_line(line(reply="Access-Reject"))[1:3] == ("Access-Reject", "bad_credentials")
    assert parse_line(line(reply="Access-Reject", verdict="reject:suspended"))[1:3] == ("Access-Reject", "suspended")


def test_hostile_names_cannot_forge_fields_or_lines():
    hostile = "bob 1 Access-Accept accept:ok\n1795663671 1 admin Access-Accept accept:ok - - 1.2.3.4\tপ্রিয়=3D=\\"
    row = parse_line(line(user=hostile, calling="x y"))
    assert row[0] == hostile and row[4] == "x y"


def test_values_that_are_not_utf8_keep_their_escaped_form():
    assert unescape(escape(b"bob\xff")) == "bob=FF"
    assert unescape("a=3Db=zz=") == "a=b=zz="  # only =XX is an escape


def test_malformed_lines_are_refused():
    for bad in ("", "garbage\n", line().replace(" ", "  ", 1), "notatime 1 alice Access-Accept accept:ok - - 1\n",
                line(stamp="9999999999999 1"), line(stamp="1 1234567"), line(stamp="1.5"),
                line().replace("\n", " extra\n")):
        assert parse_line(bad) is None, bad


def test_rotate_hands_over_only_files_no_writer_can_reach(tmp_path):
    spool = Spool(tmp_path / "postauth.tsv", grace=0.2)
    spool.rotate()  # nothing there yet
    spool.path.write_text("")
    spool.rotate()  # empty: left alone
    assert spool.ready(everything=True) == []
    spool.path.write_text(line() + "not a line\n")
    spool.rotate()
    assert not spool.path.exists()
    assert spool.ready() == []  # a write under way may still reach it
    time.sleep(0.25)
    (taken,) = spool.ready()
    rows, bad = Spool.rows(taken)
    assert [r[0] for r in rows] == ["alice"] and bad == ["not a line\n"]


def test_something_that_is_not_a_file_is_never_taken_over(tmp_path):
    spool = Spool(tmp_path / "postauth.tsv")
    os.mkdir(spool.path)
    spool.rotate()
    assert spool.path.is_dir() and spool.ready(everything=True) == []


def _load(url, path):
    import psycopg

    from radius_module.sessions import OpenSessions
    from radius_module.snapshot import PolicySnapshot
    from radius_module.worker import Worker

    worker = Worker(url, PolicySnapshot(), OpenSessions(timedelta(minutes=16)), Spool(path.parent / "postauth.tsv"))
    with psycopg.connect(url, autocommit=True) as conn:
        worker.load_postauth(conn, path)
        return conn.execute("SELECT username, reply, reason, calledstationid, callingstationid, host(nasipaddress),"
                            " authdate FROM radpostauth WHERE username LIKE %s ORDER BY id",
                            (path.name.rpartition(".")[2] + "%",)).fetchall()


def _rows(lines):
    return [(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in map(parse_line, lines) if r is not None]


def test_postgres_decodes_a_file_exactly_as_parse_line_does(shared_db_url, tmp_path):
    tag = "fast"
    lines = [line(user=f"{tag} alice=1"), line(user=f"{tag}\nপ্রিয়", verdict="reject:suspended", called="x y"),
             line(user=f"{tag}-carol", reply="Access-Reject", calling=""),
             line(user=f"{tag}-dave", nas="", stamp="0 0"),
             line(user=f"{tag}-eve", verdict="", reply="")]
    lines.insert(1, " ".join(["1795663671", "5", escape(b"fast\xfe\xff"), "Access-Accept", "accept:ok", "", "", ""])
                 + "\n")
    path = tmp_path / f"postauth.tsv.{tag}"
    path.write_text("".join(lines))
    got = _load(shared_db_url, path)
    want = _rows(lines)
    assert [(u, r, why, called, calling, nas, when) for u, r, why, called, calling, nas, when in got] == want
    assert len(want) == 6 and not path.exists()
    assert want[1][0] == "fast=FE=FF" and want[2][0] == "fast\nপ্রিয়" and want[2][3] == "x y"


@pytest.mark.parametrize("damage", ["bad-ip", "garbage", "short", "long", "empty-time"])
def test_a_line_the_fast_path_cannot_read_costs_no_other_line(shared_db_url, tmp_path, damage):
    tag = f"slow{damage}"
    broken = {"bad-ip": line(user=f"{tag}-b", nas="999.1.1.1"), "garbage": "garbage\n",
              "short": "1795663671 5 x\n", "long": line().replace("\n", " extra\n"),
              "empty-time": line(stamp=" 5")}[damage]
    path = tmp_path / f"postauth.tsv.{tag}"
    path.write_text(line(user=f"{tag}-a") + broken + line(user=f"{tag}-c"))
    got = _load(shared_db_url, path)
    assert [r[0] for r in got] == [f"{tag}-a", f"{tag}-c"] and not path.exists()
