"""Secrets at rest in the database: which columns hold radbill.secretbox-sealed values, sealing the plain ones
left from before (SMS gateway secrets were stored plain until migration 0027's release), and re-sealing every
value under the current key (`radbill rotate-secrets`).

A migration cannot do this (it never sees the key), so `radbill migrate` and `radbill run` call
`seal_plain_values` right after migrating. Both functions run as the schema owner, across every tenant.
"""

from __future__ import annotations

import asyncpg

from radbill import secretbox
from radbill.errors import ConfigError
from radbill.i18n import _

SMS_SECRET = "sms_gateways.secret"
PAYMENT_CREDENTIALS = "payment_gateways.credentials"
WHATSAPP_TOKEN = "whatsapp_settings.access_token"
WHATSAPP_APP_SECRET = "whatsapp_settings.app_secret"

WEBHOOK_SECRET = "webhook_endpoints.secret"


class Column:
    """A column of sealed values; the context prefix binds each value to its row ("<prefix>:<id>")."""

    def __init__(self, prefix: str, select: str, update: str):
        self.prefix, self.select, self.update = prefix, select, update


# written out per column (no SQL assembled from names)
SEALED_COLUMNS = (
    Column(SMS_SECRET, "SELECT id, secret AS value FROM sms_gateways WHERE secret IS NOT NULL ORDER BY id FOR UPDATE",
           "UPDATE sms_gateways SET secret = $2 WHERE id = $1"),
    Column(PAYMENT_CREDENTIALS, "SELECT id, credentials_sealed AS value FROM payment_gateways"
           " WHERE credentials_sealed IS NOT NULL ORDER BY id FOR UPDATE",
           "UPDATE payment_gateways SET credentials_sealed = $2 WHERE id = $1"),
    # one row per operator: the operator's id is the row id of the context
    Column(WHATSAPP_TOKEN, "SELECT operator_id AS id, access_token AS value FROM whatsapp_settings"
           " WHERE access_token IS NOT NULL ORDER BY operator_id FOR UPDATE",
           "UPDATE whatsapp_settings SET access_token = $2 WHERE operator_id = $1"),
    Column(WHATSAPP_APP_SECRET, "SELECT operator_id AS id, app_secret AS value FROM whatsapp_settings"
           " WHERE app_secret IS NOT NULL ORDER BY operator_id FOR UPDATE",
           "UPDATE whatsapp_settings SET app_secret = $2 WHERE operator_id = $1"),

    Column(WEBHOOK_SECRET, "SELECT id, secret_sealed AS value FROM webhook_endpoints ORDER BY id FOR UPDATE",
           "UPDATE webhook_endpoints SET secret_sealed = $2 WHERE id = $1"),
)


def context(prefix: str, row_id: int) -> str:
    return f"{prefix}:{row_id}"


def seal_for(prefix: str, row_id: int, plaintext: str) -> str:
    """Seal a value for one row; a missing or malformed key is a configuration error naming the variable."""
    try:
        return secretbox.seal(plaintext, context(prefix, row_id))
    except (secretbox.SecretBoxError, ValueError) as exc:
        raise ConfigError(_("Secrets cannot be stored: %(problem)s. Set RADBILL_DATA_KEYS (see README, "
                            "'Secrets at rest').", problem=str(exc))) from None


def open_for(prefix: str, row_id: int, stored: str | None) -> str | None:
    """The plain value of a stored secret; a value from before sealing (plain) is returned as it is until
    `seal_plain_values` runs. Raises secretbox.SecretBoxError when the value cannot be opened."""
    if stored is None or not secretbox.is_sealed(stored):
        return stored
    return secretbox.open_sealed(stored, context(prefix, row_id))


async def seal_plain_values(conn: asyncpg.Connection) -> int:
    """Seal every stored secret that is still plain text; returns how many were sealed (0 when none)."""
    count = 0
    async with conn.transaction():
        for column in SEALED_COLUMNS:
            for row in await conn.fetch(column.select):
                if not secretbox.is_sealed(row["value"]):
                    await conn.execute(column.update, row["id"], seal_for(column.prefix, row["id"], row["value"]))
                    count += 1
    return count


async def rotate(conn: asyncpg.Connection) -> int:
    """Re-seal every sealed value under the current (first) key of RADBILL_DATA_KEYS, in one transaction: a value
    that no configured key opens stops the rotation with its table and id, and nothing changes."""
    count = 0
    async with conn.transaction():
        for column in SEALED_COLUMNS:
            for row in await conn.fetch(column.select):
                if not secretbox.is_sealed(row["value"]):
                    continue
                try:
                    if not secretbox.needs_reseal(row["value"]):
                        continue
                    plain = secretbox.open_sealed(row["value"], context(column.prefix, row["id"]))
                except secretbox.SecretBoxError as exc:
                    raise ConfigError(f"{column.prefix} {row['id']}: {exc}. Put the key it was sealed with back "
                                      "into RADBILL_DATA_KEYS (after the new one) and run rotate-secrets again; "
                                      "nothing was changed.") from None
                await conn.execute(column.update, row["id"], seal_for(column.prefix, row["id"], plain))
                count += 1
    return count
