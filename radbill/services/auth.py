"""Admin logins: password + optional TOTP, throttling, server-side sessions, account management."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from radbill import clock, totp
from radbill.errors import NotFound, PermissionDenied, RadbillError, ValidationError, database_refusals
from radbill.i18n import _, lazy_gettext, ngettext
from radbill.passwords import generate, hash_password, verify_password
from radbill.services import audit
from radbill.tenancy import Scope

SESSION_IDLE = timedelta(hours=2)
SESSION_MAX = timedelta(hours=12)
WINDOW = timedelta(minutes=15)
# An attacker can slow a username down, never lock its owner out for long: the pair (username, ip) is
# throttled hard, the username across all addresses only briefly, and a noisy address on its own.
PAIR_LIMIT, PAIR_PAUSE = 5, timedelta(minutes=5)
USER_LIMIT, USER_PAUSE = 50, timedelta(minutes=1)
IP_LIMIT, IP_PAUSE = 30, timedelta(minutes=15)
MIN_PASSWORD = 10

MANAGER_PERMISSIONS = {  # code -> label (lazy: shown in the reader's language)
    "customers.view": lazy_gettext("See customers"),
    "customers.edit": lazy_gettext("Add and edit customers, change status and package"),
    "billing.collect": lazy_gettext("Collect payments"),
    "billing.manage": lazy_gettext("Generate bills"),
    "packages.manage": lazy_gettext("Edit packages and billing profiles"),
    "routers.manage": lazy_gettext("Edit routers (NAS)"),
    "sms.send": lazy_gettext("Send SMS"),
    "reports.view": lazy_gettext("See payment history and reports"),
    "payments.manage": lazy_gettext("Confirm mobile-wallet transfers, set up payment gateways and see their "
                                    "settlement"),
    "audit.view": lazy_gettext("See the audit log"),
}


class LoginRefused(RadbillError):
    """Wrong credentials or throttled; the message never says which part was wrong."""


@dataclass(frozen=True)
class Session:
    token_hash: bytes
    account_id: int
    username: str
    full_name: str
    role: str
    operator_id: int
    operator_path: str
    operator_kind: str
    operator_name: str
    timezone: str
    currency: str
    permissions: frozenset[str]
    csrf_token: str
    stage: str  # totp | change_password | full
    totp_enabled: bool
    locale: str = "en"  # the account's language, else its operator's default (radbill.i18n.LOCALES)
    bengali_digits: bool = False  # the operator's choice for numbers in the Bangla admin

    @property
    def scope(self) -> Scope:
        return Scope(self.account_id, self.operator_id, self.operator_path, self.role, self.permissions)


def _hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def throttle_message(conn: asyncpg.Connection, username: str, ip: str | None, now: datetime) -> str | None:
    """Why a login attempt is refused before its password is even checked, or None."""
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE lower(username) = lower($1) AND ip IS NOT DISTINCT FROM $2::inet) AS pair,
                  max(at) FILTER (WHERE lower(username) = lower($1) AND ip IS NOT DISTINCT FROM $2::inet) AS pair_last,
                  count(*) FILTER (WHERE lower(username) = lower($1)) AS user_total,
                  max(at) FILTER (WHERE lower(username) = lower($1)) AS user_last,
                  count(*) FILTER (WHERE ip IS NOT DISTINCT FROM $2::inet) AS ip_total,
                  max(at) FILTER (WHERE ip IS NOT DISTINCT FROM $2::inet) AS ip_last
             FROM login_attempts
            WHERE NOT succeeded AND at > $3 AND (lower(username) = lower($1) OR ip IS NOT DISTINCT FROM $2::inet)""",
        username, ip, now - WINDOW)
    for count, last, limit, pause in ((row["ip_total"], row["ip_last"], IP_LIMIT, IP_PAUSE),
                                      (row["pair"], row["pair_last"], PAIR_LIMIT, PAIR_PAUSE),
                                      (row["user_total"], row["user_last"], USER_LIMIT, USER_PAUSE)):
        if count >= limit and last + pause > now:
            wait = int((last + pause - now).total_seconds() // 60) + 1
            return ngettext("Too many failed logins. Try again in %(num)s minute.",
                            "Too many failed logins. Try again in %(num)s minutes.", wait)
    return None


async def _admit_attempt(conn, username: str, ip: str | None, now: datetime, audit_refusal: bool = False) -> int:
    """Decide whether this attempt may check a secret and, if so, count it, in one locked step; returns its row id.

    The attempt is recorded as failed before the (slow) check and marked succeeded after, so attempts still in
    flight count against the limit: 100 concurrent guesses get PAIR_LIMIT checks, not one per connection.
    Locks are taken username first, then address, in separate namespaces, so two logins never wait on each other
    in a cycle."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(1, hashtext(lower($1))),"
                           " pg_advisory_xact_lock(2, hashtext(coalesce($2::inet::text, '')))", username, ip)
        refused = await throttle_message(conn, username, ip, now)
        if refused:
            if audit_refusal:
                await audit.record(conn, None, "login_throttled", "account", None, {"username": username}, ip)
        else:
            return await conn.fetchval("INSERT INTO login_attempts (username, ip, succeeded)"
                                       " VALUES ($1, $2::inet, false) RETURNING id", username[:64], ip)
    raise LoginRefused(refused)


async def login(conn: asyncpg.Connection, username: str, password: str, ip: str | None,
                user_agent: str | None) -> tuple[str, str]:
    """Check the password; returns (session token, stage). Raises LoginRefused with a user-facing message."""
    now = clock.now()
    attempt_id = await _admit_attempt(conn, username, ip, now, audit_refusal=True)
    account = await conn.fetchrow(
        "SELECT a.*, o.status AS operator_status FROM accounts a JOIN operators o ON o.id = a.operator_id"
        " WHERE lower(a.username) = lower($1)", username)
    # verify against a dummy hash for unknown users so timing does not reveal which usernames exist
    stored = account["password_hash"] if account else _DUMMY_HASH
    # argon2id takes tens of ms of CPU: off the event loop, so one login does not stall every other request
    ok = await asyncio.to_thread(verify_password, stored, password) and account is not None
    if ok and (account["status"] != "active" or account["operator_status"] != "active"):
        ok = False
    async with conn.transaction():
        await conn.execute("UPDATE login_attempts SET succeeded = $2 WHERE id = $1", attempt_id, ok)
        await audit.record(conn, None, "login" if ok else "login_failed", "account",
                           account["id"] if account else None, {"username": username}, ip,
                           operator_id=account["operator_id"] if account else None)
    if not ok:  # raised after the commit: the failed attempt must count
        raise LoginRefused(_("Wrong username or password."))
    async with conn.transaction():
        stage = "totp" if account["totp_enabled"] else ("change_password" if account["must_change_password"] else "full")
        token = await _create_session(conn, account["id"], stage, ip, user_agent, now)
        if stage == "full":
            await conn.execute("UPDATE accounts SET last_login_at = $2 WHERE id = $1", account["id"], now)
    return token, stage


_DUMMY_HASH = hash_password(secrets.token_hex(16))


async def _create_session(conn, account_id: int, stage: str, ip: str | None, user_agent: str | None,
                          now: datetime) -> str:
    token = secrets.token_urlsafe(32)  # a new id at every login: no session fixation
    await conn.execute(
        "INSERT INTO admin_sessions (id_hash, account_id, csrf_token, stage, ip, user_agent, expires_at)"
        " VALUES ($1, $2, $3, $4, $5::inet, $6, $7)",
        _hash_token(token), account_id, secrets.token_urlsafe(32), stage, ip, (user_agent or "")[:300],
        now + SESSION_MAX)
    return token


async def load_session(conn: asyncpg.Connection, token: str) -> Session | None:
    """The live session for a cookie value, or None (expired, logged out, account or operator disabled)."""
    if not token or len(token) > 100:
        return None
    now = clock.now()
    row = await conn.fetchrow(
        """SELECT s.id_hash, s.csrf_token, s.stage, s.last_seen_at, a.id AS account_id, a.username, a.full_name,
                  a.role, a.permissions, a.totp_enabled, o.id AS operator_id, o.path::text AS path, o.kind, o.name,
                  o.timezone, o.currency, COALESCE(a.locale, o.default_locale) AS locale, o.bengali_digits
             FROM admin_sessions s JOIN accounts a ON a.id = s.account_id JOIN operators o ON o.id = a.operator_id
            WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3
              AND a.status = 'active' AND o.status = 'active'""",
        _hash_token(token), now, now - SESSION_IDLE)
    if row is None:
        return None
    if now - row["last_seen_at"] > timedelta(minutes=1):
        await conn.execute("UPDATE admin_sessions SET last_seen_at = $2 WHERE id_hash = $1", row["id_hash"], now)
    return Session(row["id_hash"], row["account_id"], row["username"], row["full_name"], row["role"],
                   row["operator_id"], row["path"], row["kind"], row["name"], row["timezone"], row["currency"],
                   frozenset(row["permissions"]), row["csrf_token"], row["stage"], row["totp_enabled"], row["locale"],
                   row["bengali_digits"])


async def logout(conn: asyncpg.Connection, session: Session, ip: str | None) -> None:
    async with conn.transaction():
        await conn.execute("DELETE FROM admin_sessions WHERE id_hash = $1", session.token_hash)
        await audit.record(conn, session.scope, "logout", "account", session.account_id, {}, ip)


async def _advance(conn, session: Session, stage_after: str | None = None) -> str:
    """Replace the session by a new one at the next stage (a new id whenever privileges grow)."""
    account = await conn.fetchrow("SELECT must_change_password FROM accounts WHERE id = $1", session.account_id)
    stage = stage_after or ("change_password" if account["must_change_password"] else "full")
    await conn.execute("DELETE FROM admin_sessions WHERE id_hash = $1", session.token_hash)
    token = await _create_session(conn, session.account_id, stage, None, None, clock.now())
    if stage == "full":
        await conn.execute("UPDATE accounts SET last_login_at = now() WHERE id = $1", session.account_id)
    return token


async def verify_login_totp(conn: asyncpg.Connection, session: Session, code: str, ip: str | None) -> str:
    """Second factor at login; returns the new session token. A code can be used once."""
    attempt_id = await _admit_attempt(conn, session.username, ip, clock.now())
    async with conn.transaction():
        account = await conn.fetchrow("SELECT totp_secret, totp_last_step FROM accounts WHERE id = $1 FOR UPDATE",
                                      session.account_id)
        step = totp.verify(account["totp_secret"], code, clock.now(), account["totp_last_step"])
        await conn.execute("UPDATE login_attempts SET succeeded = $2 WHERE id = $1", attempt_id, step is not None)
        if step is None:
            await audit.record(conn, session.scope, "totp_failed", "account", session.account_id, {}, ip)
        else:
            await conn.execute("UPDATE accounts SET totp_last_step = $2 WHERE id = $1", session.account_id, step)
            await audit.record(conn, session.scope, "totp_ok", "account", session.account_id, {}, ip)
            return await _advance(conn, session)
    raise LoginRefused(_("That code is not valid (or was already used). Enter the current code."))


def check_new_password(username: str, new: str, confirm: str) -> None:
    fields = {}
    if len(new) < MIN_PASSWORD:
        fields["new_password"] = _("Use at least %(count)s characters.", count=MIN_PASSWORD)
    elif new.lower() == username.lower():
        fields["new_password"] = _("Your password cannot be your username.")
    if new != confirm:
        fields["confirm_password"] = _("The two new passwords differ.")
    if fields:
        raise ValidationError(_("Please correct the password."), fields)


async def change_password(conn: asyncpg.Connection, session: Session, current: str, new: str, confirm: str,
                          ip: str | None) -> str:
    """Change one's own password; ends every other session of the account; returns the new session token."""
    async with conn.transaction():
        account = await conn.fetchrow("SELECT password_hash FROM accounts WHERE id = $1 FOR UPDATE",
                                      session.account_id)
        if not verify_password(account["password_hash"], current):
            raise ValidationError(_("Please correct the password."), {"current_password": _("This is not your current password.")})
        check_new_password(session.username, new, confirm)
        if verify_password(account["password_hash"], new):
            raise ValidationError(_("Please correct the password."), {"new_password": _("Choose a password you have not used here.")})
        await conn.execute("UPDATE accounts SET password_hash = $2, must_change_password = false,"
                           " password_changed_at = now() WHERE id = $1", session.account_id, hash_password(new))
        await conn.execute("DELETE FROM admin_sessions WHERE account_id = $1", session.account_id)
        await audit.record(conn, session.scope, "password_changed", "account", session.account_id, {}, ip)
        token = await _create_session(conn, session.account_id, "full", ip, None, clock.now())
        await conn.execute("UPDATE accounts SET last_login_at = now() WHERE id = $1", session.account_id)
        return token


async def start_totp_enrolment(conn: asyncpg.Connection, session: Session) -> str:
    """A new pending secret (not active until confirmed with a code)."""
    if session.totp_enabled:
        raise ValidationError(_("Two-factor login is already on."))
    secret = totp.new_secret()
    await conn.execute("UPDATE accounts SET totp_secret = $2, totp_last_step = NULL WHERE id = $1",
                       session.account_id, secret)
    return secret


async def pending_totp_secret(conn: asyncpg.Connection, session: Session) -> str | None:
    return await conn.fetchval("SELECT totp_secret FROM accounts WHERE id = $1 AND NOT totp_enabled",
                               session.account_id)


async def confirm_totp_enrolment(conn: asyncpg.Connection, session: Session, code: str, ip: str | None) -> None:
    async with conn.transaction():
        account = await conn.fetchrow("SELECT totp_secret, totp_enabled FROM accounts WHERE id = $1 FOR UPDATE",
                                      session.account_id)
        if account["totp_enabled"] or not account["totp_secret"]:
            raise ValidationError(_("Start the set-up again."))
        step = totp.verify(account["totp_secret"], code, clock.now(), None)
        if step is None:
            raise ValidationError(_("Please correct the code."), {"code": _("That code does not match. Check the time on your phone.")})
        await conn.execute("UPDATE accounts SET totp_enabled = true, totp_last_step = $2 WHERE id = $1",
                           session.account_id, step)
        await audit.record(conn, session.scope, "totp_enabled", "account", session.account_id, {}, ip)


async def disable_totp(conn: asyncpg.Connection, session: Session, password: str, ip: str | None) -> None:
    async with conn.transaction():
        stored = await conn.fetchval("SELECT password_hash FROM accounts WHERE id = $1", session.account_id)
        if not verify_password(stored, password):
            raise ValidationError(_("Please correct the password."), {"password": _("This is not your current password.")})
        await conn.execute("UPDATE accounts SET totp_enabled = false, totp_secret = NULL, totp_last_step = NULL"
                           " WHERE id = $1", session.account_id)
        await audit.record(conn, session.scope, "totp_disabled", "account", session.account_id, {}, ip)


# ---- account management -------------------------------------------------------------------------------

CHILD_KIND = {"group_admin": "operator", "operator": "sub_operator"}


async def create_operator_with_login(conn: asyncpg.Connection, scope: Scope, name: str, username: str,
                                     full_name: str, ip: str | None) -> tuple[int, str]:
    """Group admin -> operator, operator -> sub-operator: a tenant node and its first login.
    Returns (operator id, the issued password, shown once)."""
    if scope.role not in CHILD_KIND:
        raise PermissionDenied(_("Only the group admin creates operators and only operators create sub-operators."))
    fields = {}
    if not name.strip():
        fields["name"] = _("Enter a name.")
    fields.update(await _username_problem(conn, username))
    if fields:
        raise ValidationError(_("Please correct the form."), fields)
    password = generate(14)
    with database_refusals():  # e.g. a 10,000-character name: the CHECK's refusal names the field
        async with conn.transaction():
            parent = await conn.fetchrow("SELECT timezone, currency FROM operators WHERE id = $1", scope.operator_id)
            op_id = await conn.fetchval(
                "INSERT INTO operators (kind, parent_id, name, timezone, currency) VALUES ($1, $2, $3, $4, $5)"
                " RETURNING id", CHILD_KIND[scope.role], scope.operator_id, name.strip(), parent["timezone"],
                parent["currency"])
            account_id = await conn.fetchval(
                "INSERT INTO accounts (operator_id, role, username, password_hash, full_name)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                op_id, CHILD_KIND[scope.role], username, hash_password(password), full_name.strip())
            await audit.record(conn, scope, "create", "operator", op_id, {"name": name, "login": username}, ip)
            await audit.record(conn, scope, "create", "account", account_id, {"username": username}, ip,
                               operator_id=op_id)
    return op_id, password


async def create_manager(conn: asyncpg.Connection, scope: Scope, username: str, full_name: str,
                         permissions: list[str], ip: str | None) -> tuple[int, str]:
    if scope.role not in ("group_admin", "operator"):
        raise PermissionDenied(_("Only operators and the group admin create managers."))
    fields = await _username_problem(conn, username)
    unknown = set(permissions) - set(MANAGER_PERMISSIONS)
    if unknown:
        fields["permissions"] = _("Unknown permission: %(names)s", names=", ".join(sorted(unknown)))
    if fields:
        raise ValidationError(_("Please correct the form."), fields)
    password = generate(14)
    async with conn.transaction():
        account_id = await conn.fetchval(
            "INSERT INTO accounts (operator_id, role, username, password_hash, full_name, permissions)"
            " VALUES ($1, 'manager', $2, $3, $4, $5) RETURNING id",
            scope.operator_id, username, hash_password(password), full_name.strip(), sorted(set(permissions)))
        await audit.record(conn, scope, "create", "account", account_id,
                           {"username": username, "role": "manager", "permissions": sorted(permissions)}, ip)
    return account_id, password


async def _username_problem(conn, username: str) -> dict[str, str]:
    import re

    if not re.fullmatch(r"[A-Za-z0-9._@-]{3,64}", username or ""):
        return {"username": "3–64 letters, digits, dot, dash, underscore or @."}
    if await conn.fetchval("SELECT radbill_taken('account_username', $1)", username):
        return {"username": _("This username is taken.")}
    return {}


async def list_accounts(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """Every login in the caller's subtree, grouped by operator."""
    return await conn.fetch(
        "SELECT a.id, a.username, a.full_name, a.role, a.status, a.totp_enabled, a.last_login_at, a.permissions,"
        "       o.name AS operator_name, o.kind AS operator_kind"
        "  FROM accounts a JOIN operators o ON o.id = a.operator_id"
        " WHERE o.path <@ $1::ltree ORDER BY o.path, a.role, a.username", scope.path)


async def get_account(conn: asyncpg.Connection, scope: Scope, account_id: int) -> asyncpg.Record:
    """An account inside the caller's subtree (the caller's own operator's staff and everything below)."""
    row = await conn.fetchrow(
        "SELECT a.*, o.name AS operator_name, o.kind AS operator_kind FROM accounts a"
        " JOIN operators o ON o.id = a.operator_id WHERE a.id = $1 AND o.path <@ $2::ltree", account_id, scope.path)
    if row is None:
        raise NotFound("No such account.")
    return row


async def set_account_status(conn: asyncpg.Connection, scope: Scope, account_id: int, status: str,
                             ip: str | None) -> None:
    """Enable or disable a login below the caller; disabling ends its sessions at once."""
    account = await get_account(conn, scope, account_id)  # first: a foreign id is a 404 whatever was posted
    if status not in ("active", "disabled"):
        raise ValidationError(_("Choose active or disabled for the login (reload the page and use its buttons)."),
                              {"status": _("active or disabled")})
    if account["id"] == scope.account_id:
        raise ValidationError(_("You cannot disable your own login."))
    if scope.role not in ("group_admin", "operator"):
        raise PermissionDenied(_("Only operators and the group admin manage logins."))
    async with conn.transaction():
        await conn.execute("UPDATE accounts SET status = $2 WHERE id = $1", account_id, status)
        if status == "disabled":
            await conn.execute("DELETE FROM admin_sessions WHERE account_id = $1", account_id)
        await audit.record(conn, scope, f"account_{status}", "account", account_id,
                           {"username": account["username"]}, ip, operator_id=account["operator_id"])


async def reset_password(conn: asyncpg.Connection, scope: Scope, account_id: int, ip: str | None) -> str:
    """Issue a new password for a login below the caller (they must change it at next login)."""
    account = await get_account(conn, scope, account_id)
    if account["id"] == scope.account_id or scope.role not in ("group_admin", "operator"):
        raise PermissionDenied(_("Change your own password on your profile page."))
    password = generate(14)
    async with conn.transaction():
        await conn.execute("UPDATE accounts SET password_hash = $2, must_change_password = true WHERE id = $1",
                           account_id, hash_password(password))
        await conn.execute("DELETE FROM admin_sessions WHERE account_id = $1", account_id)
        await audit.record(conn, scope, "password_reset", "account", account_id, {"username": account["username"]},
                           ip, operator_id=account["operator_id"])
    return password
