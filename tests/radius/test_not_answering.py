"""A RADIUS node whose FreeRADIUS stops answering while its module's worker still beats is reported, by name,
within a bound; and healthy again once it answers. The node is started through `radbill radius`'s own code path
(radbill.radius_node.start_node), so its supervisor's probe (radbill/radius_probe.py) is the one that runs."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from radbill import clock, freeradius, health
from radbill.radius.client import RadiusClient
from radbill.radius_node import NodeOptions, start_node
from tests.support.db import radius_url
from tests.support.radius import free_udp_port

PROBE = 0.5  # seconds between the supervisor's Status-Server questions here (5 by default)
NOT_ANSWERING = 2.0  # the health threshold here (15 by default)
BOUND = NOT_ANSWERING + 2 * PROBE + 2.0  # threshold, a probe's interval and timeout, and slack for a busy box


@pytest.fixture(scope="module")
def node(pg_server):
    url = pg_server.create_database("radbill_not_answering")
    var = Path(pg_server.base) / "not-answering"
    service = start_node(NodeOptions(radius_url(url), var, "127.0.0.1", free_udp_port(), free_udp_port(),
                                     "node-quiet"), env={"RADBILL_RADIUS_PROBE_SECONDS": str(PROBE)})
    try:
        yield service, url
    finally:
        os.kill(service.process.pid, signal.SIGCONT)  # a stopped process cannot take the SIGTERM
        service.stop()


async def _report(url: str) -> health.Check:
    conn = await asyncpg.connect(url)
    try:
        checks = await health.database_checks(conn, clock.now())
    finally:
        await conn.close()
    return next(c for c in checks if c.name == "radius_nodes")


def _until(url: str, ok: bool, bound: float) -> tuple[health.Check, float]:
    started = time.monotonic()
    while True:
        check = asyncio.run(_report(url))
        waited = time.monotonic() - started
        if check.ok == ok or waited > bound:
            return check, waited
        time.sleep(0.1)


def test_a_stopped_freeradius_is_reported_not_answering_then_healthy_again(node, monkeypatch):
    service, url = node
    monkeypatch.setattr(health, "NODE_NOT_ANSWERING", NOT_ANSWERING)
    check, _ = _until(url, True, BOUND)
    deadline = time.monotonic() + BOUND
    while "node-quiet" not in check.figures["round_trip_ms"] and time.monotonic() < deadline:
        time.sleep(0.1)
        check = asyncio.run(_report(url))
    assert check.ok and check.figures["round_trip_ms"]["node-quiet"] >= 0, check  # the probe answered and recorded
    os.kill(service.process.pid, signal.SIGSTOP)  # its worker's heartbeat is fresh: only the probe can tell
    try:
        check, waited = _until(url, False, BOUND)
        assert not check.ok, f"still reported healthy {waited:.1f}s after FreeRADIUS stopped: {check}"
        assert "node-quiet" in check.summary and "not answered" in check.summary
        assert check.figures["not_answering_seconds"]["node-quiet"] >= NOT_ANSWERING
        assert check.figures["seen_seconds_ago"]["node-quiet"] < health.NODE_SILENT  # not the heartbeat's doing
        assert "not answered" in health.as_text([check])  # `radbill status` prints the same sentence
    finally:
        os.kill(service.process.pid, signal.SIGCONT)
    check, waited = _until(url, True, BOUND)
    assert check.ok, f"still reported not answering {waited:.1f}s after FreeRADIUS continued: {check}"
    assert check.figures["not_answering_seconds"] == {}


def test_an_auth_listener_routers_cannot_reach_is_reported_while_the_status_listener_answers(node, monkeypatch):
    """The probe asks the address and port routers send to: here FreeRADIUS's auth listener is not on the port
    the node is configured with (nothing answers there), while its loopback status listener answers as ever."""
    service, url = node
    monkeypatch.setattr(health, "NODE_NOT_ANSWERING", NOT_ANSWERING)
    assert _until(url, True, BOUND)[0].ok
    serving = service.settings
    monkeypatch.setattr(service, "settings", replace(serving, auth_port=free_udp_port()))
    try:
        check, waited = _until(url, False, BOUND)
        assert not check.ok, f"still reported healthy {waited:.1f}s after the auth port went quiet: {check}"
        assert "node-quiet" in check.summary and "not answered" in check.summary
        assert health.radius_statistics(health.HealthSettings(status_port=serving.status_port,
                                                              status_secret=serving.status_secret)) is not None
    finally:
        monkeypatch.setattr(service, "settings", serving)
    check, waited = _until(url, True, BOUND)
    assert check.ok, f"still reported not answering {waited:.1f}s after the auth port answered again: {check}"


def test_the_probe_client_is_answered_status_server_and_nothing_else(node):
    service, _ = node
    target = service.probe_target()
    assert (target.host, target.port) == ("127.0.0.1", service.settings.auth_port)
    client = RadiusClient(target.host, target.port, service.settings.acct_port, target.secret, timeout=3, retries=1)
    client.client.bind((freeradius.PROBE_SOURCE, 0))
    assert client.status_server()
    assert client.send(client.access_request("anyone", "secret")).code == "Access-Reject"
    quick = RadiusClient(target.host, target.port, service.settings.acct_port, target.secret, timeout=0.5,
                         retries=0)
    quick.client.bind((freeradius.PROBE_SOURCE, 0))
    assert quick.send(quick.accounting_request(User_Name="anyone", Acct_Status_Type="Start",
                                               Acct_Session_Id="probe-1")) is None  # refused, never stored


def test_a_router_on_the_probe_address_keeps_its_client_and_the_probe_uses_its_secret():
    routers = [{"nasname": "127.0.0.1", "shortname": "local", "secret": "router-secret",
                "require_message_authenticator": True, "type": "mikrotik"}]
    assert freeradius.probe_secret(routers, "own") == "router-secret"
    assert freeradius.PROBE_CLIENT not in freeradius.render_clients(routers, "own")  # one address, one client
    assert freeradius.probe_secret([], "own") == "own"
    assert f'client {freeradius.PROBE_CLIENT} {{' in freeradius.render_clients([], "own")
