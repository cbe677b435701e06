"""WhatsApp settings of an operator: the Cloud API sender (secrets sealed, set once, never shown again), the
per-event channel and template, and a test send."""

from __future__ import annotations

import re

import asyncpg

from radbill import validate
from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.services import audit, sealed, sms
from radbill.services.whatsapp import NOT_SET_UP, post_template, record_test
from radbill.sms import SendResult
from radbill.sms.whatsapp import CHANNELS, LANGUAGES, TEMPLATE_PARAMETERS
from radbill.tenancy import Scope

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v21.0"
_URL = re.compile(r"^https?://[^\s/]+(:\d+)?(/[^\s]*)?$")
_VERSION = re.compile(r"^v\d{1,3}\.\d{1,3}$")
_PHONE_ID = re.compile(r"^\d{1,30}$")
_TEMPLATE = re.compile(r"^[a-z0-9_]{1,512}$")


def shown_error(error: str | None) -> str | None:
    """A stored failure in the reader's language; the platform's own words stay as they came."""
    if error == NOT_SET_UP:
        return _("WhatsApp is not set up for this operator: add the access token under WhatsApp.")
    return error


async def settings_for(conn: asyncpg.Connection, scope: Scope) -> dict:
    """The form's values for the caller's own operator: never a secret, only whether each is set."""
    row = await conn.fetchrow("SELECT * FROM whatsapp_settings WHERE operator_id = $1", scope.operator_id)
    events = {r["event"]: r for r in await conn.fetch("SELECT * FROM whatsapp_events WHERE operator_id = $1",
                                                      scope.operator_id)}
    form = {"base_url": row["base_url"] if row else DEFAULT_BASE_URL,
            "api_version": row["api_version"] if row else DEFAULT_VERSION,
            "phone_number_id": row["phone_number_id"] if row else ""}
    for event in TEMPLATE_PARAMETERS:
        saved = events.get(event)
        form[f"channel_{event}"] = saved["channel"] if saved else "sms"
        form[f"template_{event}"] = saved["template_name"] if saved else ""
        form[f"language_{event}"] = saved["language"] if saved else "bn"
    return {"form": form, "exists": row is not None,
            "token_set": bool(row and row["access_token"]), "secret_set": bool(row and row["app_secret"]),
            "verify_set": bool(row and row["verify_token_hash"])}


def parse_sender(form) -> tuple[tuple[str, str, str], dict[str, str]]:
    """(base_url, api_version, phone_number_id) from the form, and what is wrong with each."""
    base_url = str(form.get("base_url") or DEFAULT_BASE_URL).strip().rstrip("/")
    version = str(form.get("api_version") or DEFAULT_VERSION).strip()
    phone = str(form.get("phone_number_id") or "").strip()
    errors = {}
    if not _URL.match(base_url):
        errors["base_url"] = _("Write the address as https://graph.facebook.com (or your test server's).")
    if not _VERSION.match(version):
        errors["api_version"] = _("Write the API version like v21.0.")
    if not _PHONE_ID.match(phone):
        errors["phone_number_id"] = _("Copy the phone number ID (digits only) from WhatsApp Manager → API Setup.")
    return (base_url, version, phone), errors


def parse_events(form) -> tuple[list[tuple[str, str, str, str]], dict[str, str]]:
    """Per event (event, channel, template name, language), and what is wrong."""
    rows, errors = [], {}
    for event in TEMPLATE_PARAMETERS:
        channel = str(form.get(f"channel_{event}") or "sms")
        template = str(form.get(f"template_{event}") or "").strip()
        language = str(form.get(f"language_{event}") or "bn")
        if channel not in CHANNELS:
            errors[f"channel_{event}"] = _("Choose SMS, WhatsApp, or WhatsApp with SMS fallback.")
        if language not in LANGUAGES:
            errors[f"language_{event}"] = _("Choose Bangla or English.")
        if template and not _TEMPLATE.match(template):
            errors[f"template_{event}"] = _("A template name has small letters, digits and underscores only, as "
                                            "WhatsApp Manager shows it.")
        elif channel != "sms" and not template:
            errors[f"template_{event}"] = _("Enter the approved template's name to send this by WhatsApp.")
        rows.append((event, channel, template, language))
    return rows, errors


async def save_settings(conn: asyncpg.Connection, scope: Scope, form, ip: str | None = None) -> None:
    """Store the caller's operator's sender and event choices; an empty secret field keeps the stored one."""
    (base_url, version, phone), errors = parse_sender(form)
    events, event_errors = parse_events(form)
    errors.update(event_errors)
    if errors:
        raise ValidationError(_("Check the highlighted fields."), errors)
    token, secret, verify = (str(form.get(k) or "").strip() for k in ("access_token", "app_secret", "verify_token"))
    owner = scope.operator_id
    async with conn.transaction():
        try:
            await _upsert_sender(conn, owner, base_url, version, phone, token, secret, verify)
        except asyncpg.UniqueViolationError as exc:  # row-level security hides the other operator's row
            field = "verify_token" if "verify" in (exc.constraint_name or "") else "phone_number_id"
            raise ValidationError(_("This value is already used by another operator's WhatsApp settings."),
                                  {field: _("already in use")}) from None
        await conn.executemany(
            "INSERT INTO whatsapp_events (operator_id, event, channel, template_name, language)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (operator_id, event) DO UPDATE SET channel = EXCLUDED.channel,"
            " template_name = EXCLUDED.template_name, language = EXCLUDED.language, updated_at = now()",
            [(owner, *row) for row in events])
        await audit.record(conn, scope, "whatsapp.settings.save", "operator", owner,
                           {"phone_number_id": phone, "token_changed": bool(token), "secret_changed": bool(secret),
                            "verify_changed": bool(verify),
                            "channels": {event: channel for event, channel, _t, _l in events}}, ip)


async def _upsert_sender(conn: asyncpg.Connection, owner: int, base_url: str, version: str, phone: str,
                         token: str, secret: str, verify: str) -> None:
    await conn.execute(
        "INSERT INTO whatsapp_settings (operator_id, base_url, api_version, phone_number_id, access_token,"
        " app_secret, verify_token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (operator_id) DO UPDATE SET base_url = EXCLUDED.base_url,"
        " api_version = EXCLUDED.api_version, phone_number_id = EXCLUDED.phone_number_id,"
        " access_token = coalesce(EXCLUDED.access_token, whatsapp_settings.access_token),"
        " app_secret = coalesce(EXCLUDED.app_secret, whatsapp_settings.app_secret),"
        " verify_token_hash = coalesce(EXCLUDED.verify_token_hash, whatsapp_settings.verify_token_hash),"
        " updated_at = now()", owner, base_url, version, phone,
        sealed.seal_for(sealed.WHATSAPP_TOKEN, owner, token) if token else None,
        sealed.seal_for(sealed.WHATSAPP_APP_SECRET, owner, secret) if secret else None,
        sms.token_hash(verify) if verify else None)


async def send_test(conn: asyncpg.Connection, scope: Scope, to: str, template: str, language: str,
                    ip: str | None = None) -> SendResult:
    """Send one template (without parameters, e.g. hello_world) to a number with the stored credentials."""
    errors = {}
    try:
        number = validate.mobile(to)
    except ValueError as exc:
        number, errors["to"] = "", str(exc)
    template = template.strip()
    if not _TEMPLATE.match(template):
        errors["template"] = _("A template name has small letters, digits and underscores only, as WhatsApp "
                               "Manager shows it.")
    if errors:
        raise ValidationError(_("Check the highlighted fields."), errors)
    sender = await conn.fetchrow("SELECT * FROM whatsapp_settings WHERE operator_id = $1", scope.operator_id)
    language = language if language in LANGUAGES else "en"
    sent = await post_template(sender, number, template, language, [])
    await record_test(conn, scope.operator_id, number, template, language, sent)
    await audit.record(conn, scope, "whatsapp.test", "operator", scope.operator_id,
                       {"to": number, "template": template, "ok": sent.ok, "error": sent.error}, ip)
    return sent
