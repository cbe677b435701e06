"""Who is really asking when a reverse proxy stands in front: the one rule for reading X-Forwarded-For.

The header is believed only from a configured trusted proxy (RADBILL_TRUSTED_PROXIES); anyone else can write any
address into it, and the walled garden names a customer and their debt by address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _trusted(address, trusted: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def source_address(peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str | None:
    """The client's address: the peer itself unless the peer is a trusted proxy; then the right-most
    X-Forwarded-For hop that is not a trusted proxy (hops further left were written by whoever connected to the
    proxy, so they prove nothing). A malformed hop ends the walk at the last address a trusted proxy vouched for."""
    try:
        current = ipaddress.ip_address((peer or "").strip())
    except ValueError:
        return None
    if not trusted or not _trusted(current, trusted):
        return str(current)
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            break
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)
