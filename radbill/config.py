"""Configuration: one frozen object read from the environment; secrets never appear in repr or logs."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from radbill.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Secret:
    """A string that shows as *** when printed, logged or repr'd; `.reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact_url(url: str) -> str:
    """postgresql://user:pw@host/db -> postgresql://user:***@host/db (for logs and repr)."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


class DatabaseUrl(Secret):
    """A connection URL whose password is hidden when shown."""

    def __repr__(self) -> str:
        return f"DatabaseUrl({redact_url(self._value)!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class Config:
    """Every setting radbill reads; build it with `Config.from_env()`."""

    database_url: DatabaseUrl
    secret_key: Secret
    timezone: str = "Asia/Dhaka"
    currency: str = "BDT"
    var_dir: Path = PROJECT_ROOT / "var"
    pg_port: int = 54320
    radius_host: str = "127.0.0.1"
    radius_auth_port: int = 1812
    radius_acct_port: int = 1813
    admin_host: str = "127.0.0.1"
    admin_port: int = 8080
    admin_workers: int = 1  # admin processes sharing admin_port (SO_REUSEPORT) when more than one
    portal_port: int = 8081  # the customers' pay pages (radbill `portal`), on admin_host
    portal_url: str = ""     # its public address for pay links and gateway callbacks; "" -> http://host:port
    fake_bkash_port: int = 9100  # the demo's local fake bKash (loopback), started by `radbill run`
    fake_sslcommerz_port: int = 9101  # the demo's local fake SSLCommerz (loopback), started by `radbill run`
    fake_whatsapp_port: int = 9102  # the demo's local fake WhatsApp Cloud API (loopback), started by `radbill run`
    cookie_secure: bool = True
    # reverse proxies in front of the portal whose X-Forwarded-For is believed (the walled garden identifies a
    # customer by address); none by default: the header is anyone's to write
    trusted_proxies: tuple[str, ...] = ()
    acct_interim_interval: int = 300
    api_rate: int = 20   # /api/v1 requests per second per client, sustained (RADBILL_API_RATE)
    api_burst: int = 40  # ... and in a burst (RADBILL_API_BURST)
    # migrations run as the schema owner; FreeRADIUS as its own narrow role. Unset, both fall back to DATABASE_URL
    # (a deployment that has not created the roles yet keeps working, without row-level security's net).
    migrate_database_url: DatabaseUrl | None = None
    radius_database_url: DatabaseUrl | None = None
    extra: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Read RADBILL_* settings (and DATABASE_URL); a missing or malformed one raises ConfigError naming it."""
        env = os.environ if environ is None else environ
        reader = EnvReader(env)
        config = cls(
            database_url=DatabaseUrl(reader.required("DATABASE_URL")),
            secret_key=Secret(reader.required("RADBILL_SECRET_KEY")),
            timezone=reader.timezone("RADBILL_TIMEZONE", cls.timezone),
            currency=reader.currency("RADBILL_CURRENCY", cls.currency),
            var_dir=Path(reader.text("RADBILL_VAR_DIR", str(cls.var_dir))),
            pg_port=reader.port("RADBILL_PG_PORT", cls.pg_port),
            radius_host=reader.text("RADBILL_RADIUS_HOST", cls.radius_host),
            radius_auth_port=reader.port("RADBILL_RADIUS_AUTH_PORT", cls.radius_auth_port),
            radius_acct_port=reader.port("RADBILL_RADIUS_ACCT_PORT", cls.radius_acct_port),
            admin_host=reader.text("RADBILL_ADMIN_HOST", cls.admin_host),
            admin_port=reader.port("RADBILL_ADMIN_PORT", cls.admin_port),
            admin_workers=reader.integer("RADBILL_ADMIN_WORKERS", cls.admin_workers, 1, 64),
            portal_port=reader.port("RADBILL_PORTAL_PORT", cls.portal_port),
            portal_url=reader.text("RADBILL_PORTAL_URL", "").rstrip("/"),
            fake_bkash_port=reader.port("RADBILL_FAKE_BKASH_PORT", cls.fake_bkash_port),
            fake_sslcommerz_port=reader.port("RADBILL_FAKE_SSLCOMMERZ_PORT", cls.fake_sslcommerz_port),
            fake_whatsapp_port=reader.port("RADBILL_FAKE_WHATSAPP_PORT", cls.fake_whatsapp_port),
            cookie_secure=reader.boolean("RADBILL_COOKIE_SECURE", cls.cookie_secure),
            trusted_proxies=reader.networks("RADBILL_TRUSTED_PROXIES"),
            acct_interim_interval=reader.integer("RADBILL_ACCT_INTERIM_INTERVAL", cls.acct_interim_interval, 60, 86400),
            api_rate=reader.integer("RADBILL_API_RATE", cls.api_rate, 1, 100_000),
            api_burst=reader.integer("RADBILL_API_BURST", cls.api_burst, 1, 100_000),
            migrate_database_url=reader.url("MIGRATE_DATABASE_URL"),
            radius_database_url=reader.url("RADIUS_DATABASE_URL"),
        )
        if config.portal_url and not config.portal_url.startswith(("http://", "https://")):
            raise ConfigError("RADBILL_PORTAL_URL must be an http:// or https:// address, like https://portal.example.net/")
        if len(config.secret_key.reveal()) < 32:
            raise ConfigError("RADBILL_SECRET_KEY must be at least 32 characters (generate one with `openssl rand -hex 32`)")
        return config

    @property
    def owner_url(self) -> DatabaseUrl:
        """Where migrations (and `radbill db-roles`) connect: the schema owner."""
        return self.migrate_database_url or self.database_url

    @property
    def fake_bkash_url(self) -> str:
        return f"http://127.0.0.1:{self.fake_bkash_port}"

    @property
    def fake_sslcommerz_url(self) -> str:
        return f"http://127.0.0.1:{self.fake_sslcommerz_port}"

    @property
    def fake_whatsapp_url(self) -> str:
        return f"http://127.0.0.1:{self.fake_whatsapp_port}"

    @property
    def portal_base_url(self) -> str:
        """Where customers (and gateways' callbacks) reach the portal."""
        return self.portal_url or f"http://{self.admin_host}:{self.portal_port}"

    @property
    def radius_url(self) -> DatabaseUrl:
        return self.radius_database_url or self.database_url

    def describe(self) -> dict[str, str]:
        """Settings as strings, secrets hidden: safe to print or log."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self) if f.name != "extra"}


def portal_base_url_from_env() -> str:
    """Config.portal_base_url from the environment alone, for code that has no Config at hand (SMS pay links are
    rendered by the scheduler's dispatcher): the same rule, so an SMS link and the portal agree."""
    port = os.environ.get("RADBILL_PORTAL_PORT") or str(Config.portal_port)
    host = os.environ.get("RADBILL_ADMIN_HOST") or Config.admin_host
    return (os.environ.get("RADBILL_PORTAL_URL") or f"http://{host}:{port}").rstrip("/")


class EnvReader:
    """Typed reads of environment settings; every error names the variable."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def text(self, key: str, default: str) -> str:
        value = self.env.get(key, "").strip()
        return value or default

    def url(self, key: str) -> DatabaseUrl | None:
        value = self.env.get(key, "").strip()
        return DatabaseUrl(value) if value else None

    def required(self, key: str) -> str:
        value = self.env.get(key, "").strip()
        if not value:
            raise ConfigError(f"{key} is not set: radbill needs it to start (see README.md, 'Configuration')")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        raw = self.env.get(key, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{key} must be between {low} and {high}, got {value}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        raw = self.env.get(key, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{key} must be between {low:g} and {high:g}, got {raw}")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.env.get(key, "").strip().lower() or default
        if value not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def port(self, key: str, default: int) -> int:
        return self.integer(key, default, 1, 65535)

    def boolean(self, key: str, default: bool) -> bool:
        raw = self.env.get(key, "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key} must be true or false, got {raw!r}")

    def networks(self, key: str) -> tuple[str, ...]:
        """A comma-separated list of addresses or networks (10.0.0.1, 192.168.0.0/24, ::1)."""
        found = []
        for item in filter(None, (part.strip() for part in self.env.get(key, "").split(","))):
            try:
                found.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ConfigError(f"{key} must list addresses or networks separated by commas, like "
                                  f"127.0.0.1,10.0.0.0/8; {item!r} is neither") from None
        return tuple(found)

    def timezone(self, key: str, default: str) -> str:
        name = self.text(key, default)
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{key} must be an IANA time zone such as Asia/Dhaka, got {name!r}") from None
        return name

    def currency(self, key: str, default: str) -> str:
        code = self.text(key, default)
        if not re.fullmatch(r"[A-Z]{3}", code):
            raise ConfigError(f"{key} must be a three-letter ISO 4217 code such as BDT, got {code!r}")
        return code
