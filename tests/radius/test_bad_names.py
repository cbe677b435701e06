"""User-Names (and passwords) FreeRADIUS refuses before the module, rlm_sql or the post-auth log see them
(raddb/policy.d/radbill): a NUL, any control byte, bytes that are not UTF-8, more than 64 octets."""

import asyncio
import random
import string
import time

import pytest
from pyrad import packet

from radbill.policy import MESSAGES
from radbill.radius.client import dictionary
from tests.radius.test_accounting import session_id
from tests.radius.test_authorize import login, login_when, new_customer
from tests.radius.test_security import pap_packet, raw_exchange
from tests.support.radius import wait_folded

SUFFIXES = {"nul": b"\x00evil", "soh": b"\x01", "unit_separator": b"\x1f", "newline": b"\nx", "del": b"\x7f",
            "c1_control": b"\xc2\x85", "not_utf8": b"\xff\xfe", "surrogate": b"\xed\xa0\x80",
            "overlong_utf8": b"\xc0\xaf"}


def send_raw(radius, username: bytes, password: bytes) -> packet.Packet:
    req = pap_packet(radius.secret, "placeholder", "placeholder", message_authenticator=True)
    req[1] = [username]  # by attribute number: pyrad then sends the bytes exactly as given
    req[2] = [req.PwCrypt(password)]
    data = raw_exchange(radius, req.RequestPacket())
    assert data is not None, f"no answer\n{radius.log[-2000:]}"
    return packet.Packet(packet=data, dict=dictionary(), secret=radius.secret.encode())


async def postauth_rows(radius_db, username: str, want: int = 1, seconds: float = 3.0):
    deadline, rows = time.monotonic() + seconds, []
    while time.monotonic() < deadline and len(rows) < want:
        rows = await radius_db.fetch("SELECT username, reply, reason FROM radpostauth WHERE username = $1", username)
        await asyncio.sleep(0.05)
    return [tuple(r) for r in rows]


@pytest.fixture
async def customer(radius, radius_db):
    c = await new_customer(radius_db, radius, simultaneous_use=1)
    assert login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted)
    return c


@pytest.mark.parametrize("suffix", SUFFIXES.values(), ids=SUFFIXES.keys())
async def test_a_control_or_non_utf8_byte_in_the_name_is_refused(radius, radius_db, customer, suffix):
    name = customer["username"].encode() + suffix
    before = len(radius.log)
    reply = send_raw(radius, name, customer["radius_password"].encode())
    assert reply.code == packet.AccessReject
    assert reply["Reply-Message"] == [MESSAGES["bad_username"]]
    # logged once, as the octets the router sent: never as the customer's name cut at the NUL
    assert await postauth_rows(radius_db, f"hex:{name.hex()}") == [(f"hex:{name.hex()}", "Access-Reject",
                                                                      "bad_username")]
    assert "Error" not in radius.log[before:]


async def test_a_name_over_64_octets_is_refused_and_64_is_looked_up(radius, radius_db):
    assert send_raw(radius, b"a" * 65, b"x")["Reply-Message"] == [MESSAGES["bad_username"]]
    assert send_raw(radius, b"a" * 64, b"x")["Reply-Message"] == [MESSAGES["unknown_user"]]
    assert send_raw(radius, "প্রিয়".encode(), b"x")["Reply-Message"] == [MESSAGES["unknown_user"]]  # UTF-8 is fine


async def test_a_password_that_is_not_utf8_is_rejected_with_one_line(radius, radius_db, customer):
    before = len(radius.log)
    reply = send_raw(radius, customer["username"].encode(), b"pass\xffword")
    assert reply.code == packet.AccessReject
    rows = await postauth_rows(radius_db, customer["username"], want=2)
    assert (customer["username"], "Access-Reject", "bad_password") in rows
    assert "UnicodeDecodeError" not in radius.log[before:] and "Error" not in radius.log[before:]
    refused = (radius.settings.state_dir / "log" / "refused.log").read_text()
    assert f"User-Name hex:{customer['username'].encode().hex()}," in refused


async def test_accounting_under_a_refused_name_is_acked_and_never_stored(radius, radius_db, customer):
    user = customer["username"]
    client = radius.client()
    sid = session_id()
    req = client.accounting_request(User_Name="placeholder", Acct_Session_Id=sid, Acct_Status_Type="Start",
                                    NAS_Port=1, Framed_IP_Address="10.1.0.9")
    req[1] = [user.encode() + b"\x00evil"]
    reply = client.send(req)
    assert reply is not None and reply.code == "Accounting-Response"  # acked: the NAS must not retransmit for ever
    wait_folded(radius.db_url)
    stored = await radius_db.fetch("SELECT username FROM radacct WHERE acctsessionid = $1", sid)
    assert stored == []  # rlm_sql stored it as "user=00evil" before: a session that never counted for the user
    refused = (radius.settings.state_dir / "log" / "refused.log").read_text()
    assert f"Accounting-Request from 127.0.0.1 refused (reject:bad_username): User-Name hex:{user.encode().hex()}" \
           f"006576696c, Acct-Status-Type Start, Acct-Session-Id {sid}" in refused
    assert login(radius, user, customer["radius_password"]).accepted


def acceptable(name: bytes) -> bool:
    """The rule of raddb/policy.d/radbill, in Python (whose UTF-8 decoder refuses overlongs and surrogates)."""
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return 1 <= len(name) <= 64 and not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in text)


def random_names(count: int, seed: int = 12) -> list[bytes]:
    rng = random.Random(seed)
    names = []
    for i in range(count):
        length = rng.randint(1, 70)
        if i % 3 == 0:
            name = rng.randbytes(length)
        elif i % 3 == 1:
            ranges = [(0x0, 0x7F), (0x80, 0x9F), (0xA0, 0x7FF), (0x800, 0xFFFF), (0x10000, 0x10FFFF)]
            chars = (chr(rng.randint(*rng.choice(ranges))) for _ in range(rng.randint(1, 24)))
            name = "".join(ch for ch in chars if not 0xD800 <= ord(ch) <= 0xDFFF).encode() or b"x"
        else:
            name = bytearray(rng.choice(string.printable[:94]).encode()[0] for _ in range(length))
            name[rng.randrange(len(name))] = rng.randrange(256)
            name = bytes(name)
        names.append(name)
    return names


async def test_every_name_is_logged_exactly_as_sent_or_refused(radius, radius_db):
    # a model check of the hand-written regex: 150 random names against the rule in Python. Accepted names
    # reach the module and the log unchanged; every other one is refused and logged as its octets
    names = random_names(150)
    assert 20 < sum(map(acceptable, names)) < 130  # both sides of the rule are exercised
    probes = {}
    client = radius.client()
    for i, name in enumerate(names):
        probe = f"model-{time.time_ns()}-{i}"
        req = client.access_request("placeholder", "x", Called_Station_Id=probe)
        req[1] = [name]
        assert client.send(req) is not None
        probes[probe] = name
    deadline, rows = time.monotonic() + 5, {}
    while time.monotonic() < deadline and len(rows) < len(probes):
        rows = {r["calledstationid"]: (r["username"], r["reason"]) for r in await radius_db.fetch(
            "SELECT calledstationid, username, reason FROM radpostauth WHERE calledstationid = ANY($1)",
            list(probes))}
        await asyncio.sleep(0.1)
    expected = {probe: (name.decode(), "unknown_user") if acceptable(name) else (f"hex:{name.hex()}", "bad_username")
                for probe, name in probes.items()}
    assert rows == expected
