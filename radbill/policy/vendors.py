"""Router types (vendor profiles): which RADIUS attributes carry a customer's rate, address pool and router
profile to each kind of router, and what its Disconnect/CoA-Requests must hold. This table is the one place
that knows a vendor: the policy engine (Access-Accept), the outbox dispatcher (RFC 5176) and the admin's router
and package forms all ask it.

Every attribute name below is in a dictionary Debian's FreeRADIUS 3.2 ships (/usr/share/freeradius/):
dictionary.mikrotik, .cisco, .erx (Juniper's subscriber VSAs, vendor 4874), .huawei, .wispr and RFC 2865's.
tests/policy/test_vendors.py checks them against those files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from radbill.i18n import lazy_gettext
from radbill.policy.rates import Speeds

Pairs = tuple[tuple[str, str], ...]
# RADIUS integer attributes are 32-bit: a rate in bit/s above ~4.29 Gbit/s is sent as the largest one that fits
_MAX_INTEGER = 2**32 - 1


def _bps(kbps: int) -> str:
    return str(min(kbps * 1000, _MAX_INTEGER))


def _mikrotik_rate(s: Speeds) -> Pairs:
    return (("Mikrotik-Rate-Limit", s.rate_limit()),)


def _cisco_rate(s: Speeds) -> Pairs:
    # ISG traffic policing as a service: "Q" + U(pstream) rate ; D(ownstream) rate, in bit/s (no burst: ISG
    # derives the normal/excess burst from the rate when they are left out)
    return (("Cisco-Account-Info", f"QU;{_bps(s.upload_kbps)};D;{_bps(s.download_kbps)}"),)


def _juniper_rate(s: Speeds) -> Pairs:
    # MX subscriber management: activate the dynamic service profile "radbill-rate" with the rates (bit/s) as its
    # $down/$up parameters; the tag orders activations (one service here, so 1)
    return (("ERX-Service-Activate:1", f"radbill-rate({_bps(s.download_kbps)},{_bps(s.upload_kbps)})"),)


def _huawei_rate(s: Speeds) -> Pairs:
    # Input = from the subscriber (upload), Output = to the subscriber (download); bit/s; peak = the burst rate
    pairs = [("Huawei-Input-Average-Rate", _bps(s.upload_kbps)), ("Huawei-Output-Average-Rate", _bps(s.download_kbps))]
    if s.burst_upload_kbps and s.burst_download_kbps:
        pairs += [("Huawei-Input-Peak-Rate", _bps(s.burst_upload_kbps)),
                  ("Huawei-Output-Peak-Rate", _bps(s.burst_download_kbps))]
    return tuple(pairs)


def _accel_ppp_rate(s: Speeds) -> Pairs:
    # accel-ppp's shaper reads Filter-Id by default ([shaper] attr=Filter-Id) as "down/up" in kbit/s
    return (("Filter-Id", f"{s.download_kbps}/{s.upload_kbps}"),)


def _wispr_rate(s: Speeds) -> Pairs:
    return (("WISPr-Bandwidth-Max-Up", _bps(s.upload_kbps)), ("WISPr-Bandwidth-Max-Down", _bps(s.download_kbps)))


@dataclass(frozen=True)
class Vendor:
    """One router type. `session_keys`: the attributes a Disconnect/CoA-Request identifies the session by (the
    dispatcher sends these, in this order, when it has them); `required_keys`: those the router refuses the
    request without (RFC 5176 Error-Cause 402); `coa_rate`: the router changes a live session's rate by CoA
    (otherwise a rate change is a Disconnect and the router logs the customer in again)."""

    type: str
    label: object  # lazy_gettext text: the router form's choice
    rate: Callable[[Speeds], Pairs]
    rate_attributes: tuple[str, ...]  # the names `rate` may give (the NAS simulator refuses any other rate VSA)
    pool_attribute: str
    profile_attribute: str | None  # the package's router profile; None: this type has no named profile
    profile_prefix: str = ""
    session_keys: tuple[str, ...] = ("User-Name", "Acct-Session-Id", "Framed-IP-Address")
    required_keys: tuple[str, ...] = ()
    coa_rate: bool = True
    walled_garden: Pairs = ()  # extra attributes of a walled-garden accept (a tag the router redirects on)

    def profile(self, name: str | None) -> Pairs:
        if not name or self.profile_attribute is None:
            return ()
        return ((self.profile_attribute, self.profile_prefix + name),)


WALLED_GARDEN_ADDRESS_LIST = "radbill-suspended"

VENDORS: dict[str, Vendor] = {v.type: v for v in (
    Vendor("mikrotik", "MikroTik (RouterOS)", _mikrotik_rate, ("Mikrotik-Rate-Limit",), "Framed-Pool",
           "Mikrotik-Group", walled_garden=(("Mikrotik-Address-List", WALLED_GARDEN_ADDRESS_LIST),)),
    # ISG identifies a session by Acct-Session-Id; the profile is an ISG service auto-activated by "A<name>"
    Vendor("cisco", "Cisco (IOS-XE / ASR BNG)", _cisco_rate, ("Cisco-Account-Info",), "Framed-Pool",
           "Cisco-Account-Info", profile_prefix="A", session_keys=("User-Name", "Acct-Session-Id"),
           required_keys=("Acct-Session-Id",)),
    # a live service's parameters cannot be changed in place by one CoA (deactivate + activate would be two
    # services' worth of state to track): a new rate is a reconnect
    Vendor("juniper", "Juniper (MX)", _juniper_rate, ("ERX-Service-Activate",), "ERX-Address-Pool-Name",
           "ERX-Qos-Profile-Name", session_keys=("Acct-Session-Id",), required_keys=("Acct-Session-Id",),
           coa_rate=False),
    Vendor("huawei", "Huawei (ME60 / NE)", _huawei_rate,
           ("Huawei-Input-Average-Rate", "Huawei-Output-Average-Rate", "Huawei-Input-Peak-Rate",
            "Huawei-Output-Peak-Rate"), "Framed-Pool", "Huawei-Qos-Profile-Name",
           session_keys=("User-Name", "Acct-Session-Id"), required_keys=("User-Name", "Acct-Session-Id")),
    # accel-ppp has no named per-user profile: the shaper's Filter-Id is the whole of it
    Vendor("accel_ppp", "accel-ppp", _accel_ppp_rate, ("Filter-Id",), "Framed-Pool", None),
    Vendor("generic", lazy_gettext("Other / WISPr hotspot (CoovaChilli, pfSense)"), _wispr_rate,
           ("WISPr-Bandwidth-Max-Up", "WISPr-Bandwidth-Max-Down"), "Framed-Pool", "Filter-Id",
           required_keys=("User-Name",), coa_rate=False),
)}
TYPES = tuple(VENDORS)
DEFAULT_TYPE = "mikrotik"  # the nas table's default


def vendor(router_type: str | None) -> Vendor:
    """The profile for a router type; an unknown or missing one is generic (standard attributes only)."""
    return VENDORS.get(router_type or "", VENDORS["generic"])


def rate_attributes(router_type: str | None, speeds: Speeds) -> dict[str, str]:
    """The CoA attributes that set `speeds` on a live session of this router type."""
    return dict(vendor(router_type).rate(speeds))


def all_rate_attributes() -> frozenset[str]:
    """Every attribute any vendor carries a rate in (the NAS simulator refuses those not its own)."""
    return frozenset(name for v in VENDORS.values() for name in v.rate_attributes)


def dynamic_authorization(router_type: str | None, kind: str, payload: dict) -> tuple[str, Pairs]:
    """The RFC 5176 request for an outbox row ('disconnect' or 'coa') as this router type wants it: the session
    identified by the type's keys, a CoA's rate in the type's attributes. A rate CoA to a type that cannot change
    a live session's rate becomes a Disconnect: the customer logs in again and gets the new rate.
    payload: username, acct_session_id, framed_ip; a CoA's `speeds` (Speeds fields) or, in rows queued before
    router types existed, `attributes` (already MikroTik's)."""
    router = vendor(router_type)
    if kind == "coa" and not router.coa_rate:
        kind = "disconnect"
    known = {"User-Name": payload.get("username"), "Acct-Session-Id": payload.get("acct_session_id"),
             "Framed-IP-Address": payload.get("framed_ip")}
    pairs = [(name, str(known[name])) for name in router.session_keys if known.get(name)]
    if kind == "coa":
        if payload.get("speeds"):
            pairs += router.rate(Speeds(**payload["speeds"]))
        pairs += [(name, str(value)) for name, value in (payload.get("attributes") or {}).items()]
    return kind, tuple(pairs)
