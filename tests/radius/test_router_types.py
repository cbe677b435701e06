"""Each router type gets its own attributes: an Access-Request from a router of that type, through the real
FreeRADIUS, is answered with that vendor's rate, pool and profile attributes (radbill/policy/vendors.py)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests import factories as f
from tests.nas_simulator import NasSimulator
from tests.radius.test_authorize import new_customer
from tests.support.waiting import wait_until

ROUTERS = {"mikrotik": "127.0.0.21", "cisco": "127.0.0.22", "juniper": "127.0.0.23", "huawei": "127.0.0.24",
           "accel_ppp": "127.0.0.25", "generic": "127.0.0.26"}
# package: 20M down / 8M up, burst 40M / 16M, pool "home-pool", router profile "gold"
EXPECTED = {
    "mikrotik": {"Mikrotik-Rate-Limit": "8M/20M 16M/40M 6M/15M 8/8", "Framed-Pool": "home-pool",
                 "Mikrotik-Group": "gold"},
    "cisco": {"Cisco-Account-Info": ["QU;8000000;D;20000000", "Agold"], "Framed-Pool": "home-pool"},
    "juniper": {"ERX-Service-Activate": "radbill-rate(20000000,8000000)", "ERX-Address-Pool-Name": "home-pool",
                "ERX-Qos-Profile-Name": "gold"},
    "huawei": {"Huawei-Input-Average-Rate": 8000000, "Huawei-Output-Average-Rate": 20000000,
               "Huawei-Input-Peak-Rate": 16000000, "Huawei-Output-Peak-Rate": 40000000,
               "Framed-Pool": "home-pool", "Huawei-Qos-Profile-Name": "gold"},
    "accel_ppp": {"Filter-Id": "20000/8000", "Framed-Pool": "home-pool"},
    "generic": {"WISPr-Bandwidth-Max-Up": 8000000, "WISPr-Bandwidth-Max-Down": 20000000,
                "Framed-Pool": "home-pool", "Filter-Id": "gold"},
}
RATE_ATTRIBUTES = {"Mikrotik-Rate-Limit", "Cisco-Account-Info", "ERX-Service-Activate", "Huawei-Input-Average-Rate",
                   "Filter-Id", "WISPr-Bandwidth-Max-Up"}


def _values(reply, name):
    values = reply.attributes.get(name, [])
    # pyrad hands a tagged attribute (ERX-Service-Activate) back as (tag, value)
    return [v[1] if isinstance(v, tuple) else v for v in values]


async def _add_routers(radius) -> None:
    conn = await asyncpg.connect(radius.db_url)
    try:
        async with conn.transaction():
            for kind, ip in ROUTERS.items():
                if not await conn.fetchval("SELECT 1 FROM nas WHERE nasname = $1", ip):
                    await f.insert(conn, "nas", {"nasname": ip, "shortname": f"type-{kind}", "type": kind,
                                                 "secret": radius.secret, "operator_id": radius.isp.operator["id"]})
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def routers(radius):
    """A router of every type in the nas table (one FreeRADIUS restart: the clients file changes once)."""
    seen = radius.service.nas_changes_handled
    asyncio.run(_add_routers(radius))
    assert wait_until(lambda: radius.service.nas_changes_handled > seen, timeout=15)
    sims = {kind: NasSimulator(ip, radius.secret, nas_type=kind).start() for kind, ip in ROUTERS.items()}
    for sim in sims.values():
        sim.use_radius("127.0.0.1", radius.settings.auth_port, radius.settings.acct_port)
    yield sims
    for sim in sims.values():
        sim.stop()


@pytest.fixture
async def profiled_customer(radius, radius_db):
    package = await f.package(radius_db, radius.isp.operator["id"], download_kbps=20000, upload_kbps=8000,
                              burst_download_kbps=40000, burst_upload_kbps=16000, ip_pool="home-pool",
                              router_profile="gold")
    await f.insert(radius_db, "package_assignments", {"operator_id": radius.isp.sub["id"], "package_id": package["id"],
                                                      "wholesale_price_minor": 1000})
    return await new_customer(radius_db, radius, package_id=package["id"])


@pytest.mark.parametrize("kind", list(ROUTERS))
async def test_each_router_type_gets_its_own_rate_pool_and_profile_attributes(routers, profiled_customer, kind):
    c = profiled_customer
    reply = wait_until(lambda: (r := routers[kind].login(c["username"], c["radius_password"])) and r.accepted and r,
                       timeout=5)
    assert reply, f"{kind}: not accepted"
    for name, expected in EXPECTED[kind].items():
        got = _values(reply, name)
        assert sorted(got) == sorted(expected if isinstance(expected, list) else [expected]), (kind, name, got)
    # no other vendor's rate attribute leaks into the answer
    assert RATE_ATTRIBUTES & set(reply.attributes) <= set(EXPECTED[kind]), (kind, sorted(reply.attributes))
    assert reply.first("Session-Timeout") and reply.first("Acct-Interim-Interval") == 60


@pytest.mark.parametrize("kind", ["huawei", "generic"])
async def test_a_static_address_and_the_walled_garden_speak_the_router_type_too(radius, radius_db, routers, kind):
    static = await new_customer(radius_db, radius, static_ip=f"100.64.0.{10 + len(kind)}")
    reply = wait_until(lambda: (r := routers[kind].login(static["username"], static["radius_password"]))
                       and r.accepted and r, timeout=5)
    assert reply.first("Framed-IP-Address") == f"100.64.0.{10 + len(kind)}" and not reply.first("Framed-Pool")

    await radius_db.execute("UPDATE operators SET suspended_pool = 'walled', suspended_rate_limit = '128k/256k'"
                            " WHERE id = $1", radius.isp.operator["id"])
    try:
        walled = await new_customer(radius_db, radius, status="suspended")
        reply = wait_until(lambda: (r := routers[kind].login(walled["username"], walled["radius_password"]))
                           and r.accepted and r, timeout=5)
        assert reply.first("Framed-Pool") == "walled" and not reply.first("Mikrotik-Rate-Limit")
        assert not reply.first("Mikrotik-Address-List")
        up, down = ("Huawei-Input-Average-Rate", "Huawei-Output-Average-Rate") if kind == "huawei" \
            else ("WISPr-Bandwidth-Max-Up", "WISPr-Bandwidth-Max-Down")
        assert (reply.first(up), reply.first(down)) == (128000, 256000)  # RouterOS rx/tx: rx is the upload
    finally:
        await radius_db.execute("UPDATE operators SET suspended_pool = NULL WHERE id = $1", radius.isp.operator["id"])


async def test_explain_answers_as_the_router_type_asked_for(radius, routers, profiled_customer):
    from radbill import diagnostics
    from radbill.config import Config, DatabaseUrl, Secret

    c = profiled_customer
    live = wait_until(lambda: (r := routers["huawei"].login(c["username"], c["radius_password"])) and r.accepted and r,
                      timeout=5)
    config = Config(database_url=DatabaseUrl(radius.db_url), secret_key=Secret("x" * 32),
                    acct_interim_interval=radius.settings.acct_interim_interval)
    decision, _ = diagnostics.explain(config, c["username"], nas_type="huawei")
    explained = {name: value for name, value in decision.reply if name != "Session-Timeout"}
    assert explained == {name: str(live.first(name)) for name in explained}
    assert "Huawei-Qos-Profile-Name" in explained and "Mikrotik-Rate-Limit" not in explained


async def test_changing_a_routers_type_changes_what_its_next_login_gets(radius, radius_db, routers,
                                                                       profiled_customer):
    """The type travels in the clients file: an edit rewrites it, FreeRADIUS restarts, the next answer follows."""
    c, sim = profiled_customer, routers["accel_ppp"]
    first = wait_until(lambda: (r := sim.login(c["username"], c["radius_password"])) and r.accepted and r, timeout=5)
    assert first.first("Filter-Id") == "20000/8000" and not first.first("Mikrotik-Rate-Limit")
    seen = radius.service.nas_changes_handled
    await radius_db.execute("UPDATE nas SET type = 'mikrotik' WHERE nasname = $1", sim.ip)
    try:
        assert wait_until(lambda: radius.service.nas_changes_handled > seen, timeout=15)
        after = wait_until(lambda: (r := sim.login(c["username"], c["radius_password"])) and r.accepted
                           and r.first("Mikrotik-Rate-Limit") and r, timeout=10)
        assert after.first("Mikrotik-Group") == "gold" and not after.first("Filter-Id")
    finally:
        seen = radius.service.nas_changes_handled
        await radius_db.execute("UPDATE nas SET type = 'accel_ppp' WHERE nasname = $1", sim.ip)
        assert wait_until(lambda: radius.service.nas_changes_handled > seen, timeout=15)
