"""X-Forwarded-For is believed only from a trusted proxy, and only as far as the proxies vouch."""

import pytest

from radbill.config import Config, ConfigError
from radbill.proxies import parse_networks, source_address

TRUSTED = parse_networks(["127.0.0.9", "10.0.0.0/8"])


@pytest.mark.parametrize(("peer", "headers", "trusted", "expected"), [
    ("127.0.0.1", ["203.0.113.7"], (), "127.0.0.1"),                   # no proxy configured: header ignored
    ("127.0.0.1", ["203.0.113.7"], TRUSTED, "127.0.0.1"),              # peer not a trusted proxy
    ("127.0.0.9", ["203.0.113.7"], TRUSTED, "203.0.113.7"),            # one trusted proxy
    ("127.0.0.9", ["6.6.6.6, 203.0.113.7, 10.1.1.1"], TRUSTED, "203.0.113.7"),  # a chain: left of it is forgeable
    ("127.0.0.9", ["6.6.6.6", "203.0.113.7"], TRUSTED, "203.0.113.7"),  # several headers read as one list
    ("127.0.0.9", [], TRUSTED, "127.0.0.9"),                           # no header: the proxy itself
    ("127.0.0.9", ["garbage, 10.1.1.1"], TRUSTED, "10.1.1.1"),         # malformed hop: stop at the last vouched
    ("not-an-ip", [], TRUSTED, None),
    ("::1", ["203.0.113.7"], TRUSTED, "::1"),                          # IPv6 peer, IPv4 networks
])
def test_source_address(peer, headers, trusted, expected):
    assert source_address(peer, headers, trusted) == expected


def test_trusted_proxies_setting():
    base = {"DATABASE_URL": "postgresql://x/y", "RADBILL_SECRET_KEY": "s" * 40}
    assert Config.from_env(base).trusted_proxies == ()
    config = Config.from_env(base | {"RADBILL_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"})
    assert config.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8")
    with pytest.raises(ConfigError, match="RADBILL_TRUSTED_PROXIES"):
        Config.from_env(base | {"RADBILL_TRUSTED_PROXIES": "proxy.example"})
