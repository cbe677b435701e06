import dataclasses

import pytest

from radbill.config import Config, Secret
from radbill.errors import ConfigError

GOOD = {"DATABASE_URL": "postgresql://radbill:hunter2pass@127.0.0.1:5432/radbill", "RADBILL_SECRET_KEY": "k" * 64}


def test_defaults():
    config = Config.from_env(GOOD)
    assert config.timezone == "Asia/Dhaka"
    assert config.currency == "BDT"
    assert config.radius_auth_port == 1812


@pytest.mark.parametrize("missing", ["DATABASE_URL", "RADBILL_SECRET_KEY"])
def test_missing_required_value_names_the_key(missing):
    env = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        Config.from_env(env)


def test_blank_value_counts_as_missing():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Config.from_env({**GOOD, "DATABASE_URL": "   "})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("RADBILL_ADMIN_PORT", "eighty"),
        ("RADBILL_RADIUS_AUTH_PORT", "70000"),
        ("RADBILL_TIMEZONE", "Mars/Olympus"),
        ("RADBILL_CURRENCY", "taka"),
        ("RADBILL_COOKIE_SECURE", "perhaps"),
        ("RADBILL_ACCT_INTERIM_INTERVAL", "5"),
    ],
)
def test_malformed_value_names_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        Config.from_env({**GOOD, key: value})


def test_short_secret_key_is_refused():
    with pytest.raises(ConfigError, match="RADBILL_SECRET_KEY"):
        Config.from_env({**GOOD, "RADBILL_SECRET_KEY": "short"})


def test_overrides_are_read():
    config = Config.from_env({**GOOD, "RADBILL_TIMEZONE": "Asia/Kolkata", "RADBILL_ADMIN_PORT": "9000",
                              "RADBILL_COOKIE_SECURE": "no"})
    assert (config.timezone, config.admin_port, config.cookie_secure) == ("Asia/Kolkata", 9000, False)


def test_secrets_are_hidden_from_repr_str_and_describe():
    config = Config.from_env(GOOD)
    shown = repr(config) + str(config) + repr(config.describe()) + f"{config.secret_key}"
    assert "hunter2pass" not in shown
    assert "k" * 64 not in shown
    assert "radbill:***@127.0.0.1" in shown  # the URL stays useful for diagnosis
    assert config.secret_key.reveal() == "k" * 64
    assert config.database_url.reveal() == GOOD["DATABASE_URL"]


def test_config_is_frozen():
    config = Config.from_env(GOOD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.admin_port = 1  # type: ignore[misc]


def test_secret_equality_does_not_leak():
    assert Secret("a") == Secret("a")
    assert Secret("a") != "a"


def test_the_portal_url_is_read_and_must_be_http():
    assert Config.from_env({**GOOD, "RADBILL_PORTAL_URL": "https://portal.isp.example/"}).portal_base_url == \
        "https://portal.isp.example"
    with pytest.raises(ConfigError, match="RADBILL_PORTAL_URL"):
        Config.from_env({**GOOD, "RADBILL_PORTAL_URL": "portal.isp.example"})
