"""Blast-RADIUS (CVE-2024-3596) and client checks: what must get no reply at all, and what every reply carries."""

import socket

import pytest
from pyrad import packet

from radbill.radius.client import RadiusClient, dictionary
from tests import factories as f
from tests.radius.test_authorize import login_when, new_customer
from tests.support.waiting import wait_until


def raw_exchange(radius, data: bytes, source: str = "127.0.0.1", timeout: float = 0.7) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", radius.settings.auth_port))
        try:
            return s.recv(4096)
        except TimeoutError:
            return None


def pap_packet(secret: str, username: str, password: str, message_authenticator: bool, **attrs) -> packet.AuthPacket:
    req = packet.AuthPacket(code=packet.AccessRequest, secret=secret.encode(), dict=dictionary(),
                            message_authenticator=message_authenticator)
    req["User-Name"] = username
    req["User-Password"] = req.PwCrypt(password)
    req["NAS-IP-Address"] = "127.0.0.1"
    for key, value in attrs.items():
        req[key.replace("_", "-")] = value
    return req


@pytest.fixture
async def customer(radius, radius_db):
    c = await new_customer(radius_db, radius)
    assert login_when(radius, c["username"], c["radius_password"], lambda r: r.accepted)
    return c


async def test_request_without_message_authenticator_gets_no_reply(radius, customer):
    req = pap_packet(radius.secret, customer["username"], customer["radius_password"], message_authenticator=False)
    assert raw_exchange(radius, req.RequestPacket()) is None


async def test_request_with_a_wrong_message_authenticator_gets_no_reply(radius, customer):
    req = pap_packet(radius.secret, customer["username"], customer["radius_password"], message_authenticator=True)
    data = bytearray(req.RequestPacket())
    position = data.find(bytes([80, 18]))  # Message-Authenticator: type 80, length 18
    assert position > 0
    data[position + 2] ^= 0xFF
    assert raw_exchange(radius, bytes(data)) is None
    assert raw_exchange(radius, req.RequestPacket()) is not None  # the untampered packet is answered


async def test_wrong_secret_gets_no_reply(radius, customer):
    client = RadiusClient("127.0.0.1", radius.settings.auth_port, radius.settings.acct_port, "wrong-secret-x" * 3,
                          timeout=0.7)
    assert client.send(client.access_request(customer["username"], customer["radius_password"])) is None


async def test_unknown_client_gets_no_reply(radius, customer):
    req = pap_packet(radius.secret, customer["username"], customer["radius_password"], message_authenticator=True)
    assert raw_exchange(radius, req.RequestPacket(), source="127.0.0.3") is None


async def test_proxy_state_without_message_authenticator_is_dropped(radius, radius_db, customer):
    # a router that is allowed to omit Message-Authenticator (legacy), sending from 127.0.0.2
    await f.insert(radius_db, "nas", {"nasname": "127.0.0.2", "shortname": "legacy", "secret": radius.secret,
                                      "operator_id": radius.isp.operator["id"],
                                      "require_message_authenticator": False})
    plain = pap_packet(radius.secret, customer["username"], customer["radius_password"], message_authenticator=False)
    # the new router reaches FreeRADIUS by a restart (NOTIFY radbill_nas); then the legacy router works
    assert wait_until(lambda: raw_exchange(radius, plain.RequestPacket(), source="127.0.0.2") is not None,
                      timeout=15, interval=0.1)
    spoofable = pap_packet(radius.secret, customer["username"], customer["radius_password"],
                           message_authenticator=False, Proxy_State=b"\x01\x02")
    assert raw_exchange(radius, spoofable.RequestPacket(), source="127.0.0.2") is None


@pytest.mark.parametrize("password_ok", [True, False])
async def test_every_reply_carries_a_valid_message_authenticator(radius, customer, password_ok):
    req = pap_packet(radius.secret, customer["username"],
                     customer["radius_password"] if password_ok else "wrong", message_authenticator=True)
    raw = raw_exchange(radius, req.RequestPacket())
    assert raw is not None
    reply = req.CreateReply(packet=raw)
    assert reply.code == (packet.AccessAccept if password_ok else packet.AccessReject)
    assert reply.message_authenticator
    assert reply.verify_message_authenticator(original_authenticator=req.authenticator, original_code=req.code)


async def test_unknown_user_reject_carries_a_message_authenticator(radius):
    req = pap_packet(radius.secret, "nobody-at-all", "x", message_authenticator=True)
    reply = req.CreateReply(packet=raw_exchange(radius, req.RequestPacket()))
    assert reply.code == packet.AccessReject
    assert reply.verify_message_authenticator(original_authenticator=req.authenticator, original_code=req.code)
