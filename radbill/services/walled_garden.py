"""The walled garden: an operator's settings (the router pool suspended/expired customers are placed in, its rate
and session timeout), the MikroTik configuration that makes it work, and who is behind an address in it.

RADIUS reads the settings of the nearest operator up the path that sets a pool (sql/migrations/0002,
radius_policy); this module only edits the caller's own row. `mikrotik_snippet` is the one place the router's
side is written down.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

from radbill import clock
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.policy.state import display_state
from radbill.policy.vendors import WALLED_GARDEN_ADDRESS_LIST
from radbill.services import audit, ledger
from radbill.tenancy import Scope

POOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# RouterOS rate-limit "rx/tx" as radbill sends it in Mikrotik-Rate-Limit (e.g. 256k/256k, 1M/512k)
RATE = re.compile(r"^[1-9][0-9]{0,6}[kM]?/[1-9][0-9]{0,6}[kM]?$")
TIMEOUT_RANGE = (30, 86400)
# Pages a walled customer must reach to pay: the gateways' customer-facing checkout hosts. Their API hosts are
# called by radbill's server, not by the customer, and need no hole in the garden.
GATEWAY_HOSTS = {
    "bkash": ("payment.bkash.com", "sandbox.payment.bkash.com"),
    "sslcommerz": ("securepay.sslcommerz.com", "sandbox.sslcommerz.com"),
}
ALLOWED_LIST, PROXY_PORT = "radbill-allowed", 8080


@dataclass(frozen=True)
class Settings:
    """An operator's walled garden; pool None: suspended/expired customers are rejected instead."""

    pool: str | None
    rate_limit: str
    session_timeout: int
    network: str | None = None


def validate_settings(pool: str, rate_limit: str, session_timeout: str, network: str = "") -> Settings:
    """Settings from form text, or ValidationError naming every wrong field."""
    errors: dict[str, str] = {}
    pool = (pool or "").strip()
    if pool and not POOL_NAME.match(pool):
        errors["pool"] = _("Use the router's pool name: letters, digits, dot, dash or underscore, up to 64.")
    rate_limit = (rate_limit or "").strip()
    if not RATE.match(rate_limit):
        errors["rate_limit"] = _("Write the speed as download/upload, like 256k/256k or 1M/512k.")
    timeout = None
    try:
        timeout = int(str(session_timeout).strip())
    except ValueError:
        pass
    if timeout is None or not TIMEOUT_RANGE[0] <= timeout <= TIMEOUT_RANGE[1]:
        errors["session_timeout"] = _("Give the session timeout in seconds, from 30 to 86400.")
    net = None
    if (network or "").strip():
        try:
            parsed = ipaddress.ip_network(network.strip(), strict=True)
            if parsed.version != 4 or parsed.prefixlen > 30:
                raise ValueError
            net = str(parsed)
        except ValueError:
            errors["network"] = _("Give the pool's IPv4 network, like 10.99.0.0/24 (at most /30).")
    if errors:
        raise ValidationError(_("Correct the walled-garden settings marked below."), errors)
    return Settings(pool or None, rate_limit, timeout, net)


async def settings_for(conn: asyncpg.Connection, scope: Scope) -> dict:
    """The caller's own settings and the ones RADIUS applies to its customers (its own, or inherited)."""
    own = await conn.fetchrow(
        "SELECT suspended_pool AS pool, suspended_rate_limit AS rate_limit,"
        " suspended_session_timeout AS session_timeout, suspended_network::text AS network"
        " FROM operators WHERE id = $1", scope.operator_id)
    inherited = await conn.fetchrow(
        "SELECT a.name, a.suspended_pool AS pool FROM operators o JOIN operators a ON a.path @> o.path"
        " WHERE o.id = $1 AND a.id <> o.id AND a.suspended_pool IS NOT NULL ORDER BY nlevel(a.path) DESC LIMIT 1",
        scope.operator_id)
    return {"own": Settings(**dict(own)), "inherited": dict(inherited) if inherited else None}


async def save_settings(conn: asyncpg.Connection, scope: Scope, settings: Settings,
                        ip: str | None = None) -> Settings:
    """Store the caller's operator's walled garden (the RADIUS snapshot follows by the operators trigger)."""
    async with conn.transaction():
        old = await conn.fetchrow(
            "SELECT suspended_pool, suspended_rate_limit, suspended_session_timeout, suspended_network::text"
            " AS suspended_network FROM operators WHERE id = $1 FOR NO KEY UPDATE", scope.operator_id)
        new = {"suspended_pool": settings.pool, "suspended_rate_limit": settings.rate_limit,
               "suspended_session_timeout": settings.session_timeout, "suspended_network": settings.network}
        changed = audit.changes(dict(old), new)
        if not changed:
            return settings
        await conn.execute(
            "UPDATE operators SET suspended_pool = $2, suspended_rate_limit = $3, suspended_session_timeout = $4,"
            " suspended_network = $5::cidr WHERE id = $1", scope.operator_id, settings.pool, settings.rate_limit,
            settings.session_timeout, settings.network)
        await audit.record(conn, scope, "walled_garden.save", "operator", scope.operator_id, changed, ip)
    return settings


def mikrotik_snippet(settings: Settings, portal_url: str, gateway_hosts: list[str]) -> str:
    """RouterOS commands for the walled garden. RADIUS puts a walled customer's address in the address list
    radbill-suspended when they log in (Mikrotik-Address-List, radbill/policy/decide.py); for that list the
    router answers DNS itself, lets the portal and the payment pages through, sends other plain-HTTP pages to the
    portal's front door through its web proxy and refuses everything else. The front door (GET / of the portal,
    portal/walled.py) names the customer by the address their session has, so the portal must see that address:
    no masquerade between the pool and the portal, or a proxy listed in RADBILL_TRUSTED_PROXIES in front of it.
    The redirect is the full URL (scheme included), so an https portal is not asked for over plain http.
    HTTPS cannot be redirected without a certificate warning: such a page fails, and any http page leads to the
    portal."""
    if not settings.pool:
        return ""
    host = urlsplit(portal_url).hostname or "127.0.0.1"
    front_door = portal_url.rstrip("/") + "/"
    allowed = [host, *dict.fromkeys(gateway_hosts)]
    walled = WALLED_GARDEN_ADDRESS_LIST
    lines = [f"# radbill walled garden: customers placed in pool {settings.pool} get {settings.rate_limit} for"
             f" {settings.session_timeout} s per session",
             "# and reach only the portal and the payment pages. The portal recognises them by their pool address:",
             "# do not masquerade the pool towards the portal (or set RADBILL_TRUSTED_PROXIES for a proxy before it)."]
    if settings.network:
        net = ipaddress.ip_network(settings.network)
        lines += ["/ip pool", f"add name={settings.pool} ranges={net.network_address + 1}-{net.broadcast_address - 1}"]
    else:
        lines += [f"# the router needs an IP pool named {settings.pool} (give its network above to have it written here)"]
    lines += ["/ip firewall address-list", *[f"add list={ALLOWED_LIST} address={h}" for h in allowed],
              "/ip dns", "set allow-remote-requests=yes",
              "/ip firewall nat",
              f"add chain=dstnat src-address-list={walled} protocol=udp dst-port=53 action=redirect to-ports=53"
              " comment=\"radbill walled garden: DNS from the router\"",
              f"add chain=dstnat src-address-list={walled} dst-address-list=!{ALLOWED_LIST} protocol=tcp"
              f" dst-port=80 action=redirect to-ports={PROXY_PORT} comment=\"radbill walled garden: web to the portal\"",
              "/ip proxy", f"set enabled=yes port={PROXY_PORT}",
              "/ip proxy access", *[f"add dst-host={h} action=allow" for h in allowed],
              f"add action=redirect action-data={front_door}",
              "/ip firewall filter",
              f"add chain=input protocol=tcp dst-port={PROXY_PORT} src-address-list=!{walled} action=drop"
              " comment=\"radbill walled garden: the proxy is for walled customers only\"",
              f"add chain=forward src-address-list={walled} dst-address-list={ALLOWED_LIST} action=accept"
              " comment=\"radbill walled garden: portal and payment pages\"",
              f"add chain=forward src-address-list={walled} action=reject reject-with=icmp-network-unreachable"
              " comment=\"radbill walled garden: nothing else\""]
    return "\n".join(lines) + "\n"


async def gateway_hosts_for(conn: asyncpg.Connection, scope: Scope) -> list[str]:
    """The checkout hosts of the payment gateways the operator's customers pay through (its own and its
    ancestors' enabled gateways), by kind."""
    kinds = await conn.fetch(
        "SELECT DISTINCT g.kind FROM payment_gateways g JOIN operators a ON a.id = g.operator_id"
        " JOIN operators o ON o.id = $1 WHERE g.enabled AND a.path @> o.path ORDER BY g.kind", scope.operator_id)
    return [h for k in kinds for h in GATEWAY_HOSTS.get(k["kind"], ())]


# ---- who is behind an address in the garden ----------------------------------------------------------------

WALLED_CUSTOMER = """
    SELECT c.id, c.operator_id, c.username, c.name, c.status, c.expires_at, o.path::text AS operator_path,
           r.acctstarttime, host(r.framedipaddress) AS framed_ip
      FROM radacct r JOIN customers c ON c.username = r.username JOIN operators o ON o.id = c.operator_id
     WHERE r.framedipaddress = $1::inet AND r.acctstoptime IS NULL
     ORDER BY r.acctstarttime DESC NULLS LAST, r.radacctid DESC LIMIT 1
"""


async def customer_by_address(conn: asyncpg.Connection, ip: str) -> dict | None:
    """The customer whose OPEN session has Framed-IP-Address `ip`, if they are suspended or expired (the walled
    garden's only residents), with what they owe; None for anyone else or an address that is not an IPv4/6
    address. Run as the system: nobody has logged in. The portal shows this without a login, so it returns
    only what the "pay now" page needs."""
    try:
        address = str(ipaddress.ip_address((ip or "").strip()))
    except ValueError:
        return None
    row = await conn.fetchrow(WALLED_CUSTOMER, address)
    if row is None:
        return None
    state = display_state(row["status"], row["expires_at"], clock.now())
    if state not in ("suspended", "expired"):
        return None
    # what is owed is the ledger's word (the receivable), as on the customer's page
    balance = await ledger.customer_balance(conn, Scope.system(row["operator_id"], row["operator_path"]), row["id"])
    return {"customer_id": row["id"], "operator_id": row["operator_id"], "name": row["name"],
            "username": row["username"], "state": state, "due_minor": balance.due_minor,
            "advance_minor": balance.advance_minor, "currency": balance.currency, "framed_ip": row["framed_ip"],
            "since": row["acctstarttime"]}


# Reactivation and renewal (services/customers.py, release_walled_sessions) queue this disconnect for each session
# opened while walled
RECONNECTING = """
    SELECT exists(
        SELECT 1 FROM radacct r JOIN customers c ON c.username = r.username
          JOIN outbox x ON x.kind = 'disconnect' AND x.dedupe_key IN (
               'disconnect:' || r.acctuniqueid || ':reactivated', 'disconnect:' || r.acctuniqueid || ':renewed')
         WHERE c.id = $1 AND r.framedipaddress = $2::inet AND r.acctstoptime IS NULL)
"""


async def reconnecting(conn: asyncpg.Connection, customer_id: int, ip: str | None) -> bool:
    """Whether the open session at `ip` is this customer's walled-garden session and a payment's reactivation has
    queued its disconnect (the router logs them in again at full speed): what their receipt page tells them."""
    try:
        address = str(ipaddress.ip_address((ip or "").strip()))
    except ValueError:
        return False
    return await conn.fetchval(RECONNECTING, customer_id, address)
