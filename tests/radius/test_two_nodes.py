"""Two RADIUS nodes (`radbill radius`) on one database: node A started in-process through the command's own code
path (radbill.radius_node.start_node), node B as the real `radbill radius` process. Both answer, both see a
change, accounting from both is folded once, each node's post-auth spool is loaded, simultaneous-use counts
the other node's sessions, and a Disconnect reaches the router whichever node saw the session."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psycopg
import pytest
from pyrad import packet

from radbill import freeradius
from radbill.db.pool import SYSTEM, create_pool, set_scope
from radbill.errors import RadbillError
from radbill.passwords import generate_nas_secret
from radbill.radius.client import RadiusClient
from radbill.radius_node import NodeOptions, start_node
from radbill.services import outbox
from radbill.services.customers import disconnect_session
from tests import factories as f
from tests.nas_simulator import NasSimulator
from tests.scheduler.test_dispatcher import scope_of
from tests.support.db import app_url, radius_url
from tests.support.radius import free_udp_port, seed, wait_folded
from tests.support.scheduler import FAST
from tests.support.waiting import wait_until

ROUTER_IP = "127.0.0.41"
BOUND = 3.0  # seconds: what tests/radius/test_authorize.py allows one node (login_when) for a change to arrive
ENV = {"RADBILL_REJECT_DELAY": "0", "RADBILL_ACCT_INTERIM_INTERVAL": "60"}


@dataclass
class Node:
    name: str
    settings: freeradius.RadiusSettings

    def client(self, secret: str) -> RadiusClient:
        return RadiusClient("127.0.0.1", self.settings.auth_port, self.settings.acct_port, secret, timeout=1.0,
                            retries=3)


@dataclass
class Pair:
    a: Node
    b: Node
    b_process: subprocess.Popen
    url: str
    secret: str
    isp: object
    router: NasSimulator

    def via(self, node: Node) -> NasSimulator:
        self.router.use_radius("127.0.0.1", node.settings.auth_port, node.settings.acct_port)
        return self.router


def _node_b(url: str, var: Path, name: str = "node-b") -> tuple[Node, subprocess.Popen]:
    auth, acct = free_udp_port(), free_udp_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "radbill.cli", "radius", "--database-url", radius_url(url), "--listen", "127.0.0.1",
         "--auth-port", str(auth), "--acct-port", str(acct), "--node-name", name, "--var", str(var)],
        env={**os.environ, **ENV}, stdout=subprocess.DEVNULL,
        stderr=open(var.parent / "node-b.err", "wb"), start_new_session=True)
    settings = freeradius.RadiusSettings(database_url=radius_url(url), state_dir=var / "radius", auth_port=auth,
                                         acct_port=acct)
    return Node("b", settings), process


async def _add_router(url: str, isp, secret: str, sim: NasSimulator) -> None:
    conn = await asyncpg.connect(url)
    try:
        await f.insert(conn, "nas", {"nasname": sim.ip, "shortname": "two-nodes-router", "secret": secret,
                                     "operator_id": isp.operator["id"], "coa_port": sim.coa_port})
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def pair(pg_server):
    url = pg_server.create_database("radbill_two_nodes")
    secret = generate_nas_secret()
    isp = asyncio.run(seed(url, secret))
    router = NasSimulator(ROUTER_IP, secret).start()
    asyncio.run(_add_router(url, isp, secret, router))
    base = Path(pg_server.base) / "two-nodes"
    (base / "b").mkdir(parents=True, exist_ok=True)
    a_service = start_node(NodeOptions(radius_url(url), base / "a", "127.0.0.1", free_udp_port(), free_udp_port(),
                                       "node-a"), env=ENV)
    b, b_process = _node_b(url, base / "b")
    try:
        freeradius.wait_ready(a_service.settings, secret, a_service.process)
        freeradius.wait_ready(b.settings, secret, b_process)
        yield Pair(Node("a", a_service.settings), b, b_process, url, secret, isp, router)
    finally:
        if b_process.poll() is None:
            os.killpg(b_process.pid, signal.SIGKILL)  # its FreeRADIUS runs in a session of its own
            b_process.wait()
        a_service.stop()
        router.stop()


async def _customer(pair: Pair, **values):
    conn = await asyncpg.connect(pair.url)
    try:
        return await f.customer(conn, pair.isp.sub["id"], pair.isp.package["id"], pair.isp.profile["id"],
                                username=f"two{time.time_ns() % 10**9}", **values)
    finally:
        await conn.close()


def _login(node: Node, secret: str, c) -> object:
    client = node.client(secret)
    return client.send(client.access_request(c["username"], c["radius_password"]))


def _sql(url: str, query: str, *args):
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, args)
        return cur.fetchall() if cur.description else None


def test_both_nodes_answer_and_see_a_suspension_within_the_bound(pair):
    c = asyncio.run(_customer(pair))
    for node in (pair.a, pair.b):
        assert wait_until(lambda n=node: (r := _login(n, pair.secret, c)) and r.accepted), f"node {node.name}"
    _sql(pair.url, "UPDATE customers SET status = 'suspended' WHERE id = %s", c["id"])
    t0 = time.monotonic()
    for node in (pair.a, pair.b):
        rejected = wait_until(lambda n=node: (r := _login(n, pair.secret, c)) and not r.accepted, timeout=BOUND)
        assert rejected, f"node {node.name} still accepts a suspended customer after {BOUND}s"
    assert time.monotonic() - t0 < BOUND


def test_simultaneous_use_counts_the_other_nodes_session_and_the_stop_frees_it(pair):
    c = asyncio.run(_customer(pair, simultaneous_use=1))
    router = pair.via(pair.a)
    assert wait_until(lambda: (r := router.login(c["username"], c["radius_password"])) and r.accepted)
    session = router.start_session(c["username"])  # acknowledged by node A; folded by whichever node is first
    wait_folded(pair.url)
    for node in (pair.a, pair.b):  # the node that did not fold the Start learns it from the other's feed
        reply = wait_until(lambda n=node: (r := _login(n, pair.secret, c)) and not r.accepted and r, timeout=BOUND)
        assert reply and reply.first("Reply-Message").startswith("This account is already online"), node.name
    pair.via(pair.b).interim(session, octets=3000)
    pair.via(pair.b).stop_session(session)
    wait_folded(pair.url)
    for node in (pair.a, pair.b):
        assert wait_until(lambda n=node: (r := _login(n, pair.secret, c)) and r.accepted, timeout=BOUND), node.name


def test_accounting_from_both_nodes_is_folded_once(pair):
    c = asyncio.run(_customer(pair))
    sessions = []
    for i in range(20):  # Start on one node, Interims and Stop on the other, interleaved
        first, other = (pair.a, pair.b) if i % 2 else (pair.b, pair.a)
        s = pair.via(first).start_session(c["username"], framed_ip=f"10.41.0.{i + 1}")
        pair.via(other).interim(s, octets=1000 * (i + 1))
        sessions.append((i, s))
    for i, s in sessions:
        pair.via(pair.a if i % 2 else pair.b).interim(s, octets=2000 * (i + 1))
        pair.via(pair.a if i % 3 else pair.b)._account(s, "Stop", Acct_Terminate_Cause="User-Request",
                                                       Acct_Session_Time=300, Acct_Input_Octets=4000 * (i + 1),
                                                       Acct_Output_Octets=1000 * (i + 1))
    wait_folded(pair.url)
    rows = _sql(pair.url, "SELECT acctsessionid, acctinputoctets + acctoutputoctets, acctstoptime IS NOT NULL,"
                          " acctsessiontime FROM radacct WHERE username = %s ORDER BY acctsessionid", c["username"])
    assert sorted(rows) == sorted((s.acct_session_id, 5000 * (i + 1), True, 300) for i, s in sessions)
    assert _sql(pair.url, "SELECT count(*) FROM radacct_journal") == [(0,)]


def test_each_nodes_post_auth_spool_is_loaded(pair):
    on_a, on_b = asyncio.run(_customer(pair)), asyncio.run(_customer(pair))
    assert wait_until(lambda: (r := _login(pair.a, pair.secret, on_a)) and r.accepted)
    assert wait_until(lambda: (r := _login(pair.b, pair.secret, on_b)) and r.accepted)
    assert pair.a.settings.state_dir != pair.b.settings.state_dir  # one spool per node: nothing clobbered

    def landed():
        found = _sql(pair.url, "SELECT username FROM radpostauth WHERE username IN (%s, %s) AND reply ="
                               " 'Access-Accept'", on_a["username"], on_b["username"])
        return {u for (u,) in found} == {on_a["username"], on_b["username"]}

    assert wait_until(landed, timeout=10), "a node's post-auth log never reached radpostauth"


async def test_a_disconnect_reaches_the_router_whichever_node_saw_the_session(pair):
    c = await _customer(pair)
    router = pair.via(pair.b)
    assert wait_until(lambda: (r := router.login(c["username"], c["radius_password"])) and r.accepted)
    session = router.start_session(c["username"])  # only node B heard of it
    wait_folded(pair.url)
    [(unique_id,)] = _sql(pair.url, "SELECT acctuniqueid FROM radacct WHERE username = %s AND acctstoptime IS NULL",
                          c["username"])
    scope = scope_of(pair.isp.sub)
    app = await asyncpg.connect(app_url(pair.url))
    pool = await create_pool(app_url(pair.url), min_size=1, max_size=2, default_scope=SYSTEM)
    try:
        await set_scope(app, scope.path)
        assert await disconnect_session(app, scope, c["id"], unique_id) is not None
        assert await outbox.drain(pool, FAST) >= 1
    finally:
        await pool.close()
        await app.close()
    [request] = router.requests_for(session)
    assert request.code == packet.DisconnectRequest and request.answered == packet.DisconnectACK


def test_a_router_added_in_the_database_reaches_both_nodes(pair):
    new = NasSimulator("127.0.0.42", pair.secret).start()
    try:
        c = asyncio.run(_customer(pair))
        known = pair.via(pair.a)
        assert wait_until(lambda: (r := known.login(c["username"], c["radius_password"])) and r.accepted)
        asyncio.run(_add_router(pair.url, pair.isp, pair.secret, new))
        for node in (pair.a, pair.b):  # each node's watcher rewrites its own clients file and restarts
            new.use_radius("127.0.0.1", node.settings.auth_port, node.settings.acct_port)
            assert wait_until(lambda: (r := new.login(c["username"], c["radius_password"])) and r.accepted,
                              timeout=20), f"node {node.name} never accepted the new router"
    finally:
        new.stop()


def test_a_second_node_on_the_same_var_directory_is_refused(pair):
    with pytest.raises(RadbillError, match="another RADIUS node is using"):
        start_node(NodeOptions(radius_url(pair.url), pair.b.settings.state_dir.parent, "127.0.0.1", free_udp_port(),
                               free_udp_port(), "node-b2"), env=ENV)


def test_a_killed_node_leaves_no_freeradius_behind(pair):
    var = Path(pair.b.settings.state_dir).parent.parent / "c"
    var.mkdir(exist_ok=True)
    node, process = _node_b(pair.url, var, "node-c")
    try:
        freeradius.wait_ready(node.settings, pair.secret, process)
        [pid] = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == process.pid
                 and (p / "comm").read_text().strip() == "freeradius"]
        os.killpg(process.pid, signal.SIGKILL)  # the node only: its FreeRADIUS runs in a session of its own
        process.wait()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists(), "FreeRADIUS outlived its `radbill radius`"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        if "pid" in locals() and Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)  # what the fix should have stopped


def _parent(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_node_b_stops_cleanly_on_sigterm(pair):
    assert _sql(pair.url, "SELECT count(*) FROM radius_nodes WHERE name = 'node-b'") == [(1,)]
    os.killpg(pair.b_process.pid, signal.SIGTERM)
    assert pair.b_process.wait(30) == 0
    assert _sql(pair.url, "SELECT count(*) FROM radius_nodes WHERE name = 'node-b'") == [(0,)]
    assert not freeradius._udp_port_bound(pair.b.settings.auth_port)
