"""Own profile and the ISP information printed on receipts and invoices."""

from __future__ import annotations

import re

import asyncpg

from radbill.errors import NotFound, ValidationError
from radbill.i18n import LOCALES, _
from radbill.services import audit
from radbill.tenancy import Scope

LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"RIFF": "image/webp"}
LOGO_MAX_BYTES = 512 * 1024
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()-]{6,20}$")


def _contact_errors(values: dict) -> dict[str, str]:
    fields = {}
    if values.get("email") and not _EMAIL.match(values["email"]):
        fields["email"] = _("Enter an email address like name@example.com.")
    if values.get("phone") and not _PHONE.match(values["phone"]):
        fields["phone"] = _("Enter a phone number (digits, spaces, + and dashes).")
    return fields


async def own_account(conn: asyncpg.Connection, account_id: int) -> asyncpg.Record:
    """The logged-in user's own account (the session names it; no scope is involved)."""
    return await conn.fetchrow("SELECT username, full_name, email, phone, totp_enabled, last_login_at, locale"
                               " FROM accounts WHERE id = $1", account_id)


async def update_own_profile(conn: asyncpg.Connection, scope: Scope, full_name: str, email: str, phone: str,
                             ip: str | None) -> None:
    values = {"full_name": full_name.strip()[:120], "email": email.strip() or None, "phone": phone.strip() or None}
    fields = _contact_errors(values)
    if not values["full_name"]:
        fields["full_name"] = _("Enter your name.")
    if fields:
        raise ValidationError(_("Please correct the form."), fields)
    async with conn.transaction():
        old = await conn.fetchrow("SELECT full_name, email, phone FROM accounts WHERE id = $1 FOR UPDATE",
                                  scope.account_id)
        await conn.execute("UPDATE accounts SET full_name = $2, email = $3, phone = $4 WHERE id = $1",
                           scope.account_id, values["full_name"], values["email"], values["phone"])
        await audit.record(conn, scope, "edit", "account", scope.account_id, audit.changes(dict(old), values), ip)


async def set_own_locale(conn: asyncpg.Connection, scope: Scope, locale: str | None, ip: str | None) -> None:
    """The logged-in user's language; None (or '') follows the operator's default."""
    locale = locale or None
    if locale is not None and locale not in LOCALES:
        raise ValidationError(_("Choose one of the languages offered."), {"locale": _("not offered")})
    async with conn.transaction():
        old = await conn.fetchval("SELECT locale FROM accounts WHERE id = $1 FOR UPDATE", scope.account_id)
        if old == locale:
            return
        await conn.execute("UPDATE accounts SET locale = $2 WHERE id = $1", scope.account_id, locale)
        await audit.record(conn, scope, "edit", "account", scope.account_id,
                           {"locale": [old or "", locale or ""]}, ip)


async def update_language_settings(conn: asyncpg.Connection, scope: Scope, default_locale: str,
                                   bengali_digits: bool, ip: str | None) -> None:
    """The caller's own operator's default language (logins without their own choice use it) and digits."""
    if default_locale not in LOCALES:
        raise ValidationError(_("Choose one of the languages offered."), {"default_locale": _("not offered")})
    async with conn.transaction():
        old = await conn.fetchrow("SELECT default_locale, bengali_digits FROM operators WHERE id = $1 FOR UPDATE",
                                  scope.operator_id)
        values = {"default_locale": default_locale, "bengali_digits": bengali_digits}
        detail = audit.changes(dict(old), values)
        if not detail:
            return
        await conn.execute("UPDATE operators SET default_locale = $2, bengali_digits = $3 WHERE id = $1",
                           scope.operator_id, default_locale, bengali_digits)
        await audit.record(conn, scope, "edit", "isp_info", scope.operator_id, detail, ip)


PORTAL_PACKAGE_CHANGE = ("pay_now", "request", "off")


async def set_portal_package_change(conn: asyncpg.Connection, scope: Scope, value: str, ip: str | None) -> None:
    """What the caller's own operator's customers may do in the portal's "Change package": pay for an upgrade
    at once, send a request to staff, or only see the packages."""
    if value not in PORTAL_PACKAGE_CHANGE:
        raise ValidationError(_("Choose what customers may do when they pick another package."),
                              {"portal_package_change": _("not offered")})
    async with conn.transaction():
        old = await conn.fetchval("SELECT portal_package_change FROM operators WHERE id = $1 FOR UPDATE",
                                  scope.operator_id)
        if old == value:
            return
        await conn.execute("UPDATE operators SET portal_package_change = $2 WHERE id = $1", scope.operator_id, value)
        await audit.record(conn, scope, "edit", "isp_info", scope.operator_id,
                           {"portal_package_change": [old, value]}, ip)


def logo_type(data: bytes) -> str | None:
    for magic, kind in LOGO_TYPES.items():
        if data.startswith(magic) and (kind != "image/webp" or data[8:12] == b"WEBP"):
            return kind
    return None


async def update_isp_info(conn: asyncpg.Connection, scope: Scope, business_name: str, address: str, phone: str,
                          email: str, logo: bytes | None, remove_logo: bool, ip: str | None) -> None:
    """The caller's own operator's business details (its receipts and invoices show them)."""
    values = {"business_name": business_name.strip()[:120] or None, "address": address.strip()[:500] or None,
              "phone": phone.strip() or None, "email": email.strip() or None}
    fields = _contact_errors(values)
    content_type = None
    if logo:
        if len(logo) > LOGO_MAX_BYTES:
            fields["logo"] = _("The logo must be at most 512 KB.")
        else:
            content_type = logo_type(logo)
            if content_type is None:
                fields["logo"] = _("The logo must be a PNG, JPEG or WebP image.")
    if fields:
        raise ValidationError(_("Please correct the form."), fields)
    async with conn.transaction():
        old = await conn.fetchrow("SELECT business_name, address, phone, email FROM operators WHERE id = $1 FOR UPDATE",
                                  scope.operator_id)
        await conn.execute("UPDATE operators SET business_name = $2, address = $3, phone = $4, email = $5"
                           " WHERE id = $1", scope.operator_id, *values.values())
        detail = audit.changes(dict(old), values)
        if logo:
            await conn.execute("UPDATE operators SET logo = $2, logo_content_type = $3 WHERE id = $1",
                               scope.operator_id, logo, content_type)
            detail["logo"] = ["", f"{content_type}, {len(logo)} bytes"]
        elif remove_logo:
            await conn.execute("UPDATE operators SET logo = NULL, logo_content_type = NULL WHERE id = $1",
                               scope.operator_id)
            detail["logo"] = ["", "removed"]
        await audit.record(conn, scope, "edit", "isp_info", scope.operator_id, detail, ip)


async def isp_info(conn: asyncpg.Connection, scope: Scope, operator_id: int | None = None) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT id, name, business_name, address, phone, email, logo IS NOT NULL AS has_logo, timezone, currency,"
        " default_locale, bengali_digits, portal_package_change, vat_profile_id"
        " FROM operators WHERE id = $1 AND path <@ $2::ltree", operator_id or scope.operator_id, scope.path)
    if row is None:
        raise NotFound("No such operator.")
    return row


async def logo(conn: asyncpg.Connection, scope: Scope, operator_id: int) -> tuple[bytes, str]:
    """A logo inside the caller's subtree, or of an operator above it (its receipts may carry it)."""
    row = await conn.fetchrow(
        "SELECT logo, logo_content_type FROM operators WHERE id = $1 AND logo IS NOT NULL"
        " AND (path <@ $2::ltree OR path @> $2::ltree)", operator_id, scope.path)
    if row is None:
        raise NotFound("No logo.")
    return bytes(row["logo"]), row["logo_content_type"]
