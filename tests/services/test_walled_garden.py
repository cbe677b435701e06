"""radbill.services.walled_garden: settings validation and storage (what RADIUS then applies), and the MikroTik
configuration generated from them."""

from __future__ import annotations

import pytest

from radbill.errors import ValidationError
from radbill.policy.vendors import WALLED_GARDEN_ADDRESS_LIST
from radbill.services import walled_garden as wg
from radbill.tenancy import Scope
from tests import factories as f

PORTAL = "https://portal.example.net"


def test_the_snippet_walls_the_pool_and_lets_the_portal_and_gateways_through():
    settings = wg.Settings("walled", "256k/256k", 300, "10.99.0.0/24")
    text = wg.mikrotik_snippet(settings, PORTAL, ["payment.bkash.com", "securepay.sslcommerz.com",
                                                  "payment.bkash.com"])
    lines = text.splitlines()
    assert "add name=walled ranges=10.99.0.1-10.99.0.254" in lines
    allowed = [line for line in lines if line.startswith("add list=radbill-allowed")]
    assert allowed == ["add list=radbill-allowed address=portal.example.net",
                       "add list=radbill-allowed address=payment.bkash.com",
                       "add list=radbill-allowed address=securepay.sslcommerz.com"]
    # to the portal's front door (GET /, portal/walled.py), scheme and all: an https portal is never asked over http
    assert "add action=redirect action-data=https://portal.example.net/" in lines
    # the router's rules key on the list RADIUS fills for walled customers (one name, radbill.policy.decide)
    walled = [line for line in lines if "src-address-list=" in line]
    assert len(walled) == 5 and all(f"src-address-list={WALLED_GARDEN_ADDRESS_LIST}" in line
                                    or f"src-address-list=!{WALLED_GARDEN_ADDRESS_LIST}" in line for line in walled)
    assert any("dst-port=53 action=redirect" in line for line in lines)
    assert lines[-1].startswith(f"add chain=forward src-address-list={WALLED_GARDEN_ADDRESS_LIST} action=reject")
    accept = next(i for i, line in enumerate(lines) if "dst-address-list=radbill-allowed action=accept" in line)
    assert accept < len(lines) - 1  # the allowed pages are accepted before everything else is refused


def test_no_pool_no_snippet_and_no_network_says_what_the_router_needs():
    assert wg.mikrotik_snippet(wg.Settings(None, "256k/256k", 300), PORTAL, []) == ""
    text = wg.mikrotik_snippet(wg.Settings("walled", "1M/512k", 600), "http://10.0.0.2:8081/", [])
    assert "needs an IP pool named walled" in text and "action-data=http://10.0.0.2:8081/" in text
    assert "/ip pool\n" not in text


@pytest.mark.parametrize("fields,wrong", [
    ({"pool": "bad pool!"}, "pool"), ({"rate_limit": "fast"}, "rate_limit"), ({"rate_limit": "0/0"}, "rate_limit"),
    ({"session_timeout": "10"}, "session_timeout"), ({"session_timeout": "x"}, "session_timeout"),
    ({"network": "10.0.0.0/31"}, "network"), ({"network": "10.0.0.1/24"}, "network"),
    ({"network": "fd00::/64"}, "network")])
def test_bad_settings_name_their_field(fields, wrong):
    values = {"pool": "walled", "rate_limit": "256k/256k", "session_timeout": "300", "network": "", **fields}
    with pytest.raises(ValidationError) as refused:
        wg.validate_settings(**values)
    assert set(refused.value.fields) == {wrong}


def test_an_empty_pool_turns_the_garden_off():
    assert wg.validate_settings(" ", "256k/256k", "300") == wg.Settings(None, "256k/256k", 300, None)


async def test_saved_settings_reach_the_radius_policy_of_the_operators_customers(db):
    isp = await f.isp(db)
    customer = await f.customer(db, isp.sub["id"], isp.package["id"], isp.profile["id"])
    scope = Scope(None, isp.operator["id"], isp.operator["path"], "operator")
    await wg.save_settings(db, scope, wg.validate_settings("walled", "512k/512k", "600", "10.99.0.0/24"))
    policy = await db.fetchrow("SELECT suspended_pool, suspended_rate_limit, suspended_session_timeout"
                               " FROM radius_policy WHERE username = $1", customer["username"])
    assert tuple(policy) == ("walled", "512k/512k", 600)
    sub_scope = Scope(None, isp.sub["id"], isp.sub["path"], "sub_operator")
    seen = await wg.settings_for(db, sub_scope)
    assert seen["own"].pool is None and seen["inherited"]["pool"] == "walled"
    audit = await db.fetchval("SELECT detail FROM audit_log WHERE action = 'walled_garden.save' AND object_id = $1",
                              isp.operator["id"])
    assert "walled" in audit
    await wg.save_settings(db, scope, wg.validate_settings("walled", "512k/512k", "600", "10.99.0.0/24"))
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'walled_garden.save'"
                             " AND object_id = $1", isp.operator["id"]) == 1  # the same again is no change
