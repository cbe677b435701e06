"""Which adapter speaks for a gateway kind, and building one from a payment_gateways row (credentials opened here,
the only place they are)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import aiohttp

from radbill import secretbox
from radbill.errors import ConfigError
from radbill.payments.bkash import BkashAdapter
from radbill.payments.gateway import GatewayAdapter
from radbill.payments.nagad import NagadAdapter
from radbill.payments.sslcommerz import SSLCommerzAdapter

# kind -> adapter class (payment_gateways.kind)
ADAPTERS: dict[str, type] = {
    "bkash": BkashAdapter,
    "sslcommerz": SSLCommerzAdapter,
    "nagad": NagadAdapter,
}


def credentials_context(gateway_id: int) -> str:
    """The secretbox associated data of a gateway's sealed credentials (binds them to their row)."""
    return f"payment_gateways.credentials:{gateway_id}"


def open_credentials(gateway: Mapping) -> dict[str, str]:
    sealed = gateway["credentials_sealed"]
    if not sealed:
        raise ConfigError(f"payment gateway {gateway['id']} has no credentials: enter them in the gateway settings")
    return json.loads(secretbox.open_sealed(sealed, credentials_context(gateway["id"])))


def adapter_for(gateway: Mapping, session: aiohttp.ClientSession) -> GatewayAdapter:
    """The adapter for a payment_gateways row, with its credentials opened."""
    cls = ADAPTERS.get(gateway["kind"])
    if cls is None:
        raise ConfigError(f"payment gateway kind {gateway['kind']!r} is not supported by this radbill")
    return cls(gateway["base_url"], open_credentials(gateway), gateway["mode"], session)
