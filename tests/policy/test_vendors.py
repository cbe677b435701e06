"""The router-type table: every attribute it names exists in Debian's FreeRADIUS dictionaries, and the RFC 5176
requests it builds carry what each type needs."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import pytest

from radbill.policy import Speeds
from radbill.policy.rates import parse_rate_limit
from radbill.policy.vendors import TYPES, VENDORS, dynamic_authorization, vendor

FREERADIUS_DICTIONARIES = Path("/usr/share/freeradius")
SPEEDS = Speeds(20000, 8000, 40000, 16000)


def freeradius_attributes() -> set[str]:
    names: set[str] = set()
    for path in FREERADIUS_DICTIONARIES.glob("dictionary*"):
        for line in path.read_text(errors="replace").splitlines():
            match = re.match(r"^ATTRIBUTE\s+(\S+)\s", line)
            if match:
                names.add(match.group(1))
    return names


def test_every_attribute_of_every_router_type_is_in_the_freeradius_dictionaries():
    known = freeradius_attributes()
    assert "Mikrotik-Rate-Limit" in known  # the dictionaries were read at all
    for v in VENDORS.values():
        used = [*v.rate_attributes, v.pool_attribute, *v.session_keys, *v.required_keys,
                *(name for name, _ in v.rate(SPEEDS)), *(name for name, _ in v.walled_garden)]
        if v.profile_attribute:
            used.append(v.profile_attribute)
        missing = {name.split(":")[0] for name in used} - known  # "Name:tag" is a tagged attribute
        assert not missing, (v.type, missing)
        assert {name.split(":")[0] for name, _ in v.rate(SPEEDS)} <= set(v.rate_attributes), v.type


def test_the_migration_allows_exactly_the_router_types():
    sql = Path(__file__).parents[2].joinpath("sql/migrations/0035_router_types.sql").read_text()
    allowed = re.search(r"CHECK \(type IN \(([^)]*)\)\)", sql).group(1)
    assert tuple(t.strip(" '") for t in allowed.split(",")) == TYPES


def test_an_unknown_type_is_generic():
    assert vendor("other") is VENDORS["generic"] and vendor(None) is VENDORS["generic"]


@pytest.mark.parametrize(("kind", "sent", "attributes"), [
    ("mikrotik", "coa", {"User-Name": "u1", "Acct-Session-Id": "s1", "Framed-IP-Address": "10.0.0.5",
                         "Mikrotik-Rate-Limit": "8M/20M 16M/40M 6M/15M 8/8"}),
    ("cisco", "coa", {"User-Name": "u1", "Acct-Session-Id": "s1", "Cisco-Account-Info": "QU;8000000;D;20000000"}),
    ("huawei", "coa", {"User-Name": "u1", "Acct-Session-Id": "s1", "Huawei-Input-Average-Rate": "8000000",
                       "Huawei-Output-Average-Rate": "20000000", "Huawei-Input-Peak-Rate": "16000000",
                       "Huawei-Output-Peak-Rate": "40000000"}),
    ("accel_ppp", "coa", {"User-Name": "u1", "Acct-Session-Id": "s1", "Framed-IP-Address": "10.0.0.5",
                          "Filter-Id": "20000/8000"}),
    # no rate by CoA: the router logs the customer in again, and the new login gets the new rate
    ("juniper", "disconnect", {"Acct-Session-Id": "s1"}),
    ("generic", "disconnect", {"User-Name": "u1", "Acct-Session-Id": "s1", "Framed-IP-Address": "10.0.0.5"}),
])
def test_a_rate_coa_is_written_for_the_router_type(kind, sent, attributes):
    payload = {"username": "u1", "acct_session_id": "s1", "framed_ip": "10.0.0.5", "speeds": asdict(SPEEDS)}
    assert dynamic_authorization(kind, "coa", payload) == (sent, tuple(attributes.items()))


def test_a_disconnect_identifies_the_session_by_the_type_keys_and_skips_what_is_unknown():
    payload = {"username": "u1", "acct_session_id": "s1", "framed_ip": None}
    assert dynamic_authorization("mikrotik", "disconnect", payload) == (
        "disconnect", (("User-Name", "u1"), ("Acct-Session-Id", "s1")))
    assert dynamic_authorization("juniper", "disconnect", payload) == ("disconnect", (("Acct-Session-Id", "s1"),))


def test_a_coa_queued_before_router_types_keeps_its_mikrotik_attributes():
    payload = {"username": "u1", "acct_session_id": "s1", "attributes": {"Mikrotik-Rate-Limit": "1M/2M"}}
    assert dynamic_authorization("mikrotik", "coa", payload)[1][-1] == ("Mikrotik-Rate-Limit", "1M/2M")


@pytest.mark.parametrize(("text", "down", "up"), [
    ("256k/256k", 256, 256), ("1M/512k", 512, 1000), ("128000/64000", 64, 128), ("2M", 2000, 2000),
    ("1M/2M 2M/4M 750k/1500k 8/8", 2000, 1000),
])
def test_a_routeros_rate_reads_as_upload_then_download(text, down, up):
    speeds = parse_rate_limit(text)
    assert (speeds.download_kbps, speeds.upload_kbps) == (down, up)


def test_rates_past_32_bits_are_capped_for_integer_attributes():
    huge = Speeds(10_000_000, 10_000_000)  # 10 Gbit/s does not fit a RADIUS integer in bit/s
    assert dict(vendor("huawei").rate(huge))["Huawei-Output-Average-Rate"] == str(2**32 - 1)
