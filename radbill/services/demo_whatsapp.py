"""The demo ISP's WhatsApp: its Cloud API sender pointing at the local fake (radbill.fakes.whatsapp_cloud, started by
`radbill run`), generated token and app secret sealed like real ones, and every event message still on SMS with
a template name filled in, so switching an event to WhatsApp under *WhatsApp* is one choice and one Save."""

from __future__ import annotations

import secrets

import asyncpg

from radbill.secretbox import SecretBoxError
from radbill.services import sealed
from radbill.sms.whatsapp import TEMPLATE_PARAMETERS

DEMO_PHONE_NUMBER_ID = "100000000000001"
DEMO_API_VERSION = "v21.0"


async def seed_demo_whatsapp(conn: asyncpg.Connection, operator_id: int, base_url: str) -> dict:
    """Inside seed_demo's transaction: the sender and the event choices (all SMS); what to print about it."""
    token, app_secret = secrets.token_urlsafe(24), secrets.token_hex(16)
    await conn.execute(
        "INSERT INTO whatsapp_settings (operator_id, base_url, api_version, phone_number_id, access_token,"
        " app_secret) VALUES ($1, $2, $3, $4, $5, $6)", operator_id, base_url, DEMO_API_VERSION,
        DEMO_PHONE_NUMBER_ID, sealed.seal_for(sealed.WHATSAPP_TOKEN, operator_id, token),
        sealed.seal_for(sealed.WHATSAPP_APP_SECRET, operator_id, app_secret))
    await conn.executemany(
        "INSERT INTO whatsapp_events (operator_id, event, channel, template_name, language)"
        " VALUES ($1, $2, 'sms', $3, 'bn')", [(operator_id, event, f"radbill_{event}") for event in TEMPLATE_PARAMETERS])
    return {"url": base_url, "phone_number_id": DEMO_PHONE_NUMBER_ID}


async def demo_senders(conn: asyncpg.Connection, base_url: str) -> dict[str, tuple[str, str]]:
    """{phone number id: (token, app secret)} of the senders pointing at the local fake at `base_url`, opened
    for `radbill run` to start the fake with (a sender whose secrets do not open is left out)."""
    numbers = {}
    for row in await conn.fetch("SELECT * FROM whatsapp_settings WHERE base_url = $1 AND access_token IS NOT NULL"
                                " AND app_secret IS NOT NULL", base_url):
        try:
            numbers[row["phone_number_id"]] = (
                sealed.open_for(sealed.WHATSAPP_TOKEN, row["operator_id"], row["access_token"]),
                sealed.open_for(sealed.WHATSAPP_APP_SECRET, row["operator_id"], row["app_secret"]))
        except SecretBoxError:  # a key dropped since: that sender is not served by the fake
            continue
    return numbers
