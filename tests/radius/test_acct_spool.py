"""RADBILL_ACCT_WRITE=spool: linelog appends each Accounting-Request to the node's spool and answers it; the
module's worker loads the spool into radacct_journal (radius_module/acct_spool.py). The same rows as rlm_sql's,
nothing answered is lost when Postgres or FreeRADIUS dies, a damaged line costs no other, and two processes
sharing a spool load each line once."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import psycopg
import pytest
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary

from radbill import freeradius
from radbill.config import ConfigError
from radbill.passwords import generate_nas_secret
from radbill.radius.client import DICTIONARY_FILE
from radius_module.acct_spool import AcctSpool, lock_whole_file
from tests.radius.test_authorize import new_customer
from tests.support.radius import add_customer, running_radius, seed, wait_folded
from tests.support.waiting import wait_until

# attributes radbill's own client dictionary has no use for, but a router sends and the journal keeps
EXTRA_DICTIONARY = """
ATTRIBUTE	Connect-Info		77	string
ATTRIBUTE	NAS-IPv6-Address	95	ipv6addr
ATTRIBUTE	Framed-Interface-Id	96	ifid
ATTRIBUTE	Framed-IPv6-Prefix	97	ipv6prefix
ATTRIBUTE	Delegated-IPv6-Prefix	123	ipv6prefix
ATTRIBUTE	Framed-IPv6-Address	168	ipv6addr
"""
COLUMNS = ("acctsessionid", "acctuniqueid", "username", "nasipaddress", "nasportid", "nasporttype", "acctstarttime",
           "acctupdatetime", "acctstoptime", "acctsessiontime", "acctauthentic", "connectinfo_start",
           "connectinfo_stop", "acctinputoctets", "acctoutputoctets", "calledstationid", "callingstationid",
           "acctterminatecause", "servicetype", "framedprotocol", "framedipaddress", "framedipv6address",
           "framedipv6prefix", "framedinterfaceid", "delegatedipv6prefix")


def client(server, tmp_path: Path) -> Client:
    extra = tmp_path / "dictionary.extra"
    extra.write_text(EXTRA_DICTIONARY)
    c = Client(server="127.0.0.1", authport=server.settings.auth_port, acctport=server.settings.acct_port,
               secret=server.secret.encode(), dict=Dictionary(str(DICTIONARY_FILE), str(extra)))
    c.timeout, c.retries = 1, 3
    return c


def send(c: Client, **attrs) -> None:
    reply = c.SendPacket(c.CreateAcctPacket(**attrs))
    assert reply.code == 5, f"no Accounting-Response to {attrs.get('Acct_Status_Type')}"


def full_session(c: Client, user: str, sid: str, stamp: int, **text) -> None:
    """Start, Interim-Update and Stop carrying every attribute the journal keeps."""
    common = {"User_Name": user, "Acct_Session_Id": sid, "NAS_IP_Address": "127.0.0.1", "NAS_Port": 7,
              "NAS_Port_Id": text.get("port_id", "ether1-vlan20"), "NAS_Port_Type": "Ethernet",
              "NAS_Identifier": text.get("nas_id", "core-1"), "Acct_Authentic": 1, "Service_Type": 2,
              "Framed_Protocol": 1, "Framed_IP_Address": "10.9.0.7", "Framed_IPv6_Address": "2001:db8::7",
              "Framed_IPv6_Prefix": "2001:db8:1::/64", "Framed_Interface_Id": b"\x00\x00\x00\x00\x00\x00\x00\x07",
              "Delegated_IPv6_Prefix": "2001:db8:2::/56", "Called_Station_Id": text.get("called", "bras-1"),
              "Calling_Station_Id": text.get("calling", "AA:BB:CC:00:00:07"),
              "Connect_Info": text.get("info", "1000BASE-T")}
    send(c, Acct_Status_Type="Start", Event_Timestamp=stamp, **common)
    send(c, Acct_Status_Type="Interim-Update", Event_Timestamp=stamp + 60, Acct_Session_Time=60,
         Acct_Input_Octets=1000, Acct_Output_Octets=2000, **common)
    send(c, Acct_Status_Type="Stop", Event_Timestamp=stamp + 120, Acct_Session_Time=120, Acct_Input_Octets=5000,
         Acct_Input_Gigawords=1, Acct_Output_Octets=9000, Acct_Terminate_Cause="User-Request", **common)


async def customer_of(server) -> str:
    conn = await asyncpg.connect(server.db_url)
    try:
        return (await new_customer(conn, server))["username"]
    finally:
        await conn.close()


def radacct_row(server, user: str) -> dict:
    wait_folded(server.db_url)
    with psycopg.connect(server.db_url) as conn:
        [row] = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM radacct WHERE username = %s", (user,)).fetchall()
    return dict(zip(COLUMNS, row, strict=True))


async def test_the_spool_stores_every_column_as_rlm_sql_does(radius_sql, radius_spool, tmp_path):
    """The same session, every journalled attribute set, through both modes: the same radacct row."""
    stamp = int(datetime(2026, 11, 1, 12, tzinfo=UTC).timestamp())
    got = {}
    for server in (radius_sql, radius_spool):
        user = await customer_of(server)
        full_session(client(server, tmp_path), user, "S-columns-1", stamp)
        got[server.settings.acct_write] = radacct_row(server, user)
    sql, spool = got["sql"], got["spool"]
    for row in (sql, spool):  # each customer has its own name, so its own unique id
        row.pop("username"), row.pop("acctuniqueid")
    assert spool == sql
    assert spool["acctinputoctets"] == 2**32 + 5000 and spool["acctterminatecause"] == "User-Request"
    assert str(spool["delegatedipv6prefix"]) == "2001:db8:2::/56" and spool["connectinfo_start"] == "1000BASE-T"
    assert spool["acctstoptime"] == datetime.fromtimestamp(stamp + 120, UTC)


async def test_text_a_router_chose_is_stored_as_sent_under_the_stock_unique_id(radius_sql, radius_spool, tmp_path):
    """Quotes, spaces, '/', '=', commas and Bangla: rlm_sql stores its escaped form, the spool the router's
    text; the session's unique id is the same md5 in both."""
    text = {"port_id": "ether 1/2='x'", "nas_id": "core,1 রহিম", "called": "a\\b", "calling": "=3D", "info": "১০০"}
    rows = {}
    for server in (radius_sql, radius_spool):
        user = await customer_of(server)
        full_session(client(server, tmp_path), user, "S-text-'1'", 1795000000, **text)
        rows[server.settings.acct_write] = (user, radacct_row(server, user))
    for mode, (user, row) in rows.items():
        stock = f"{user},S-text-'1',127.0.0.1,{text['nas_id']},{text['port_id']},7"
        assert row["acctuniqueid"] == hashlib.md5(stock.encode()).hexdigest(), mode
    spool = rows["spool"][1]
    assert (spool["acctsessionid"], spool["nasportid"], spool["calledstationid"], spool["callingstationid"],
            spool["connectinfo_stop"]) == ("S-text-'1'", text["port_id"], "a\\b", "=3D", "১০০")
    assert rows["sql"][1]["acctsessionid"] == "S-text-=271=27"  # rlm_sql's escaping, kept as it was


def spool_lines(server) -> int:
    spool = server.settings.state_dir / "spool"
    return sum(p.read_bytes().count(b"\n") for p in spool.glob("accounting.tsv*") if not p.name.endswith("rejected"))


def sessions(url: str, user: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT acctsessionid, acctstoptime IS NOT NULL, acctoutputoctets FROM radacct"
                            " WHERE username = %s ORDER BY acctsessionid", (user,)).fetchall()


def test_nothing_answered_is_lost_when_postgres_or_freeradius_dies(own_cluster, tmp_path):
    """Postgres down: accounting is still answered (spooled) and stored once Postgres is back. Postgres down and
    FreeRADIUS killed (-9) after answering: the next start loads what it answered."""
    cluster, url, base = own_cluster
    secret = generate_nas_secret()
    isp = asyncio.run(seed(url, secret))
    asyncio.run(add_customer(url, isp, "rider", radius_password="pw1"))
    state = base / "radius"
    with running_radius(url, state, secret, isp, acct_write="spool") as server:
        c = client(server, tmp_path)
        cluster.stop()
        for n in range(3):
            full_session(c, "rider", f"A{n}", 1795000000 + n)
        assert spool_lines(server) == 9  # answered, not stored yet
        cluster.start(log=base / "postgres.log", settings={"fsync": "off"})
        assert wait_until(lambda: len(sessions(url, "rider")) == 3, timeout=25, interval=0.2), server.log[-2000:]
        wait_folded(url)
        assert sessions(url, "rider") == [(f"A{n}", True, 9000) for n in range(3)]

        cluster.stop()
        for n in range(3, 5):
            full_session(c, "rider", f"A{n}", 1795000000 + n)
        server.service.process.kill()  # -9: no detach, nothing written at exit
        server.service.process.wait()
    assert any(p.stat().st_size for p in (state / "spool").glob("accounting.tsv*"))
    cluster.start(log=base / "postgres.log", settings={"fsync": "off"})
    with running_radius(url, state, secret, isp, acct_write="spool"):
        assert wait_until(lambda: len(sessions(url, "rider")) == 5, timeout=20, interval=0.2)
        wait_folded(url)
        assert [r[0] for r in sessions(url, "rider") if r[1] and r[2] == 9000] == [f"A{n}" for n in range(5)]


def spool_line(sid: str, user: str = "loaded", status: str = "Start", nas: str = "127.0.0.1") -> str:
    values = [status, sid, user, "", nas, "core-1", "ether1", "7", "Ethernet", "60", "RADIUS", "", "", "1000", "",
              "2000", "bras", "AA:BB", "", "Framed-User", "PPP", "10.0.0.1", "", "", "", ""]
    return " ".join(["1795000000", *values]) + "\n"


def journal(url: str, user: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT acctsessionid FROM radacct_journal WHERE username = %s"
                                           " ORDER BY id", (user,))]


@pytest.mark.parametrize("damage", ["bad-ip", "garbage", "short", "long", "not-a-time", "cut-off"])
def test_a_line_the_fast_path_cannot_read_costs_no_other_line(fresh_db_url, tmp_path, damage):
    broken = {"bad-ip": spool_line("b", nas="999.1.1.1"), "garbage": "garbage\n", "short": "1795000000 Start x\n",
              "long": spool_line("b").replace("\n", " extra\n"), "not-a-time": "x" + spool_line("b"),
              "cut-off": spool_line("b")[:40]}[damage]
    spool = AcctSpool(tmp_path / "accounting.tsv")
    spool.path.write_text(spool_line("a") + broken + ("\n" if damage == "cut-off" else "") + spool_line("c"))
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        assert spool.load(conn) == 2
    assert journal(fresh_db_url, "loaded") == ["a", "c"]
    assert not list(tmp_path.glob("accounting.tsv.1*")) and not spool.path.exists()
    assert spool.rejected.read_text().strip() == broken.strip()
    assert oct(spool.rejected.stat().st_mode & 0o777) == "0o600"


def test_the_loaders_lock_excludes_freeradius_writer_in_the_same_process(tmp_path):
    """FreeRADIUS's exfile takes a classic fcntl lock to write; the worker runs inside the same process, where a
    classic lock of its own would never conflict. The open-file-description lock does, both ways."""
    path = tmp_path / "accounting.tsv.1"
    path.write_text("")
    writer, loader = os.open(path, os.O_RDWR), os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(writer, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what exfile does (F_SETLK, F_WRLCK)
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (lock_whole_file(loader), done.set()), daemon=True)
        waiter.start()
        assert not done.wait(0.3), "the loader's lock did not wait for the writer"
        fcntl.lockf(writer, fcntl.LOCK_UN)
        assert done.wait(5), "the loader's lock never came"
        with pytest.raises(OSError):  # a writer arriving now fails its lock and reopens the name
            fcntl.lockf(writer, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(writer)
        os.close(loader)


def test_two_loaders_sharing_a_spool_load_each_line_once(fresh_db_url, tmp_path):
    """Two FreeRADIUS processes share a spool during a handover; both workers load it."""
    for n in range(20):
        (tmp_path / f"accounting.tsv.{1000 + n}").write_text("".join(spool_line(f"s{n}-{i}", "twice")
                                                                     for i in range(50)))
    (tmp_path / "accounting.tsv").write_text(spool_line("live", "twice"))
    barrier, loaded = threading.Barrier(2), []

    def load():
        with psycopg.connect(fresh_db_url, autocommit=True) as conn:
            barrier.wait()
            loaded.append(AcctSpool(tmp_path / "accounting.tsv").load(conn))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(loaded) == 1001
    rows = journal(fresh_db_url, "twice")
    assert len(rows) == len(set(rows)) == 1001
    assert not list(tmp_path.iterdir())


def test_radbill_acct_write_is_read_from_the_environment_and_checked():
    assert freeradius.acct_write_from({}) == "sql"
    assert freeradius.acct_write_from({"RADBILL_ACCT_WRITE": "Spool"}) == "spool"
    with pytest.raises(ConfigError, match="RADBILL_ACCT_WRITE must be one of sql, spool"):
        freeradius.acct_write_from({"RADBILL_ACCT_WRITE": "detail"})


def test_a_spool_that_cannot_be_written_answers_nothing_so_the_router_retransmits(radius_spool, tmp_path):
    """linelog failing (here: the spool's name taken by a directory, as a full disk fails a write) fails the
    accounting section: no Accounting-Response, so the router sends the packet again; once the spool can be
    written, the retransmit is answered and stored."""
    live = radius_spool.settings.state_dir / "spool" / "accounting.tsv"
    wait_folded(radius_spool.db_url)  # nothing of other tests' in the live file
    if live.exists():
        live.unlink()
    live.mkdir()
    c = client(radius_spool, tmp_path)
    c.timeout, c.retries = 0.5, 1
    packet = c.CreateAcctPacket(User_Name="unwritten", Acct_Session_Id="W1", Acct_Status_Type="Start",
                                NAS_IP_Address="127.0.0.1", NAS_Port=1, Framed_IP_Address="10.9.9.9")
    try:
        with pytest.raises(Timeout):
            c.SendPacket(packet)
    finally:
        live.rmdir()
    c.timeout, c.retries = 1, 3
    assert c.SendPacket(packet).code == 5
    wait_folded(radius_spool.db_url)
    with psycopg.connect(radius_spool.db_url) as conn:
        assert conn.execute("SELECT count(*) FROM radacct WHERE acctsessionid = 'W1'").fetchone()[0] == 1
