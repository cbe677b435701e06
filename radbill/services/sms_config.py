"""What operators configure: gateways (the secret and the delivery-report token are shown once), event
templates (unknown placeholders refused on save) and settings (sending hours, reminder offsets)."""

from __future__ import annotations

import json
import secrets
from datetime import time

import asyncpg

from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.services import audit, sealed
from radbill.services.recipient_locale import operator_locale
from radbill.services.sms import token_hash
from radbill.sms import EVENTS, GatewayConfig, count_segments, parse_gateway_form, render, validate_template
from radbill.sms.text import ALWAYS_ON, ON_BY_DEFAULT, default_template
from radbill.tenancy import Scope

SAMPLE = {"customer_name": "Rahim Uddin", "username": "rahim01", "amount": "BDT 1,050.00", "due_date": "10 Jul 2025",
          "expiry": "15 Jul 2025", "package": "Home 20 Mbps", "isp_name": "Your ISP",
          "pay_link": "https://pay.example.net/pay/Xq3kP9sV2mN7bR4tW8yZ1a"}


# --- gateways ---------------------------------------------------------------------------------------------

async def list_gateways(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT g.id, g.name, g.kind, g.config, g.is_default, g.active, g.created_at,"
                            "       g.secret IS NOT NULL AS has_secret, o.name AS operator_name"
                            "  FROM sms_gateways g JOIN operators o ON o.id = g.operator_id"
                            " WHERE o.path <@ $1::ltree ORDER BY o.path, g.name", scope.path)


async def get_gateway(conn: asyncpg.Connection, scope: Scope, gateway_id: int) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT g.*, g.secret IS NOT NULL AS has_secret FROM sms_gateways g"
                              " JOIN operators o ON o.id = g.operator_id WHERE g.id = $1 AND o.path <@ $2::ltree",
                              gateway_id, scope.path)
    if row is None:
        raise NotFound("gateway not found")
    return row


async def save_gateway(conn: asyncpg.Connection, scope: Scope, form, gateway_id: int | None = None,
                       ip: str | None = None) -> tuple[asyncpg.Record, str | None]:
    """Create or edit a gateway of the caller's operator; (row, callback token if a new one was issued).
    A blank secret on edit keeps the stored one; a new one is sealed (radbill.services.sealed), never stored
    plain."""
    name, kind, config = parse_gateway_form(form)
    secret = str(form.get("secret") or "").strip() or None
    make_default = bool(form.get("is_default"))
    active = gateway_id is None or bool(form.get("active"))
    token = None
    async with conn.transaction():
        if gateway_id is None:
            token = secrets.token_urlsafe(24)
            first = not await conn.fetchval("SELECT exists(SELECT 1 FROM sms_gateways WHERE operator_id = $1"
                                            " AND is_default)", scope.operator_id)
            if make_default and not first:
                await conn.execute("UPDATE sms_gateways SET is_default = false WHERE operator_id = $1",
                                   scope.operator_id)
            try:
                row = await conn.fetchrow(
                    "INSERT INTO sms_gateways (operator_id, name, kind, config, is_default, active,"
                    " callback_token_hash) VALUES ($1, $2, $3, $4::jsonb, $5, true, $6) RETURNING *",
                    scope.operator_id, name, kind, json.dumps(config.to_json()), make_default or first,
                    token_hash(token))
            except asyncpg.UniqueViolationError:
                raise ValidationError(_("You already have a gateway with this name."), {"name": "taken"}) from None
            if secret is not None:  # sealed for its row, so the row's id comes first
                await conn.execute("UPDATE sms_gateways SET secret = $2 WHERE id = $1", row["id"],
                                   sealed.seal_for(sealed.SMS_SECRET, row["id"], secret))
        else:
            old = await get_gateway(conn, scope, gateway_id)
            if make_default:
                await conn.execute("UPDATE sms_gateways SET is_default = false WHERE operator_id = $1 AND id <> $2",
                                   old["operator_id"], gateway_id)
            if form.get("new_token"):
                token = secrets.token_urlsafe(24)
            row = await conn.fetchrow(
                "UPDATE sms_gateways SET name = $2, kind = $3, config = $4::jsonb, secret = coalesce($5, secret),"
                " is_default = is_default OR $6, active = $7,"
                " callback_token_hash = coalesce($8, callback_token_hash), updated_at = now()"
                " WHERE id = $1 RETURNING *", gateway_id, name, kind, json.dumps(config.to_json()),
                sealed.seal_for(sealed.SMS_SECRET, gateway_id, secret) if secret is not None else None,
                make_default, active, token_hash(token) if token else None)
        await audit.record(conn, scope, "sms.gateway.save", "sms_gateway", row["id"],
                           {"name": name, "kind": kind, "secret_changed": secret is not None,
                            "token_issued": token is not None}, ip, operator_id=row["operator_id"])
    return row, token


def gateway_form_values(row: asyncpg.Record | None) -> dict:
    """The edit form's fields for a stored gateway (never the secret)."""
    if row is None:
        config = GatewayConfig()
        return {**config.to_json(), "kind": "http", "params": "to={to}\nmessage={message}\nsender={sender}",
                "headers": "Authorization: Bearer {secret}", "dlr_delivered": "delivered",
                "dlr_failed": ", ".join(config.dlr_failed), "is_default": True, "active": True}
    config = GatewayConfig.from_json(row["config"])
    values = config.to_json()
    values.update(name=row["name"], kind=row["kind"], is_default=row["is_default"], active=row["active"],
                  params="\n".join(f"{k}={v}" for k, v in config.params.items()),
                  headers="\n".join(f"{k}: {v}" for k, v in config.headers.items()),
                  dlr_delivered=", ".join(config.dlr_delivered), dlr_failed=", ".join(config.dlr_failed))
    return values


# --- templates --------------------------------------------------------------------------------------------

async def templates_for(conn: asyncpg.Connection, scope: Scope) -> list[dict]:
    """Per event: the caller's own template, else the one inherited from above, else the suggested text."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (t.event) t.event, t.body, t.enabled, t.operator_id = $2 AS own, a.name AS owner"
        "  FROM radbill_line($2) l JOIN sms_templates t ON t.operator_id = l.operator_id"
        "  JOIN operators a ON a.id = t.operator_id"
        " WHERE $1::text IS NOT NULL"
        " ORDER BY t.event, l.distance", scope.path, scope.operator_id)
    found = {r["event"]: r for r in rows}
    language = await operator_locale(conn, scope.operator_id)  # its customers read the SMS, not this login
    out = []
    for event, label in EVENTS.items():
        r = found.get(event)
        body = r["body"] if r else default_template(event, language)
        out.append({"event": event, "label": label, "body": body,
                    "enabled": (bool(r["enabled"]) if r else event in ON_BY_DEFAULT) or event in ALWAYS_ON,
                    "own": bool(r and r["own"]), "owner": r["owner"] if r else None, "preview": preview(body)})
    return out


def preview(body: str) -> dict:
    """The body rendered with sample values and its segment count (the form shows both)."""
    text = render(body, SAMPLE)
    return {"text": text, "segments": count_segments(text)}


async def save_template(conn: asyncpg.Connection, scope: Scope, event: str, body: str, enabled: bool,
                        ip: str | None = None) -> asyncpg.Record:
    """Store the caller's operator's template for `event` (unknown placeholders are refused here)."""
    if event not in EVENTS:
        raise ValidationError(_("Choose one of the listed events."), {"event": "unknown"})
    body = validate_template(body)
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO sms_templates (operator_id, event, body, enabled) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (operator_id, event) DO UPDATE SET body = EXCLUDED.body, enabled = EXCLUDED.enabled,"
            " updated_at = now() RETURNING *", scope.operator_id, event, body, enabled)
        await audit.record(conn, scope, "sms.template.save", "sms_template", row["id"],
                           {"event": event, "enabled": enabled}, ip)
    return row


# --- settings ---------------------------------------------------------------------------------------------

async def settings_for(conn: asyncpg.Connection, scope: Scope) -> dict:
    row = await conn.fetchrow(
        "SELECT s.* FROM radbill_line($1) l JOIN sms_settings s ON s.operator_id = l.operator_id"
        " ORDER BY l.distance LIMIT 1",
        scope.operator_id)
    if row is None:
        return {"send_from": "09:00", "send_until": "21:00", "due_reminder_days": "3, 1",
                "expiry_reminder_days": "3, 1", "own": False}
    return {"send_from": row["send_from"].strftime("%H:%M"), "send_until": row["send_until"].strftime("%H:%M"),
            "due_reminder_days": ", ".join(map(str, row["due_reminder_days"])),
            "expiry_reminder_days": ", ".join(map(str, row["expiry_reminder_days"])),
            "own": row["operator_id"] == scope.operator_id}


def _days(text: str, field: str) -> list[int]:
    try:
        days = sorted({int(p) for p in str(text or "").replace(" ", "").split(",") if p}, reverse=True)
    except ValueError:
        days = [-1]
    if len(days) > 5 or any(not 0 <= d <= 60 for d in days):
        raise ValidationError(_("Reminder days are up to five whole numbers from 0 to 60, e.g. 3, 1."),
                              {field: "e.g. 3, 1"})
    return days


def _time(text: str, field: str) -> time:
    try:
        return time.fromisoformat(str(text or "").strip())
    except ValueError:
        raise ValidationError(_("Write times as HH:MM, e.g. 09:00."), {field: "HH:MM"}) from None


async def save_settings(conn: asyncpg.Connection, scope: Scope, form, ip: str | None = None) -> None:
    values = (_time(form.get("send_from"), "send_from"), _time(form.get("send_until"), "send_until"),
              _days(form.get("due_reminder_days"), "due_reminder_days"),
              _days(form.get("expiry_reminder_days"), "expiry_reminder_days"))
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO sms_settings (operator_id, send_from, send_until, due_reminder_days, expiry_reminder_days)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (operator_id) DO UPDATE SET send_from = EXCLUDED.send_from,"
            " send_until = EXCLUDED.send_until, due_reminder_days = EXCLUDED.due_reminder_days,"
            " expiry_reminder_days = EXCLUDED.expiry_reminder_days, updated_at = now()", scope.operator_id, *values)
        await audit.record(conn, scope, "sms.settings.save", "operator", scope.operator_id,
                           {"send_from": values[0], "send_until": values[1], "due": values[2], "expiry": values[3]}, ip)
