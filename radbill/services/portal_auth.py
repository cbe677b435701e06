"""Customer portal logins (no HTTP here): username + RADIUS password, or mobile + one-time SMS code; the portal's
own sessions; and the one-customer scope a logged-in customer gets.

Run the login functions as the system (`scoped(SYSTEM)`: nobody is known yet), a session's work as its
customer (`scoped(scope.path, scope.customer_id)`). Every refusal reads the same whatever was wrong (unknown
user, wrong password, no such number, wrong/expired/used code), so the portal never tells which usernames or
numbers exist. Throttling counts attempts per login (username or number) and per address, admitted in one
locked step like the admin's (radbill/services/auth.py), so concurrent guesses cannot overrun a limit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from radbill import clock, validate
from radbill.errors import NotFound, RadbillError
from radbill.i18n import _, lazy_gettext
from radbill.services import otp_sms, sms_events
from radbill.tenancy import CustomerScope

WINDOW = timedelta(minutes=15)
# kind -> (failures per login, failures per address) in WINDOW; for otp_send every request counts (each one
# costs an SMS), for the others only the failed ones
LIMITS = {"password": (10, 30), "otp_send": (3, 10), "otp_verify": (10, 30)}
CODE_TTL, CODE_TRIES, CODE_DIGITS = timedelta(minutes=5), 5, 6
SESSION_IDLE, SESSION_MAX = timedelta(hours=2), timedelta(days=7)


class PortalLoginRefused(RadbillError):
    """Wrong credentials, an unusable code, or throttled; never says which part was wrong."""


WRONG_PASSWORD = lazy_gettext("Wrong username or password.")
WRONG_CODE = lazy_gettext("The code is wrong or has expired. Ask for a new code.")
CODE_SENT = lazy_gettext("If this number belongs to a customer, a login code is on its way by SMS. It is valid for "
                         "5 minutes.")


@dataclass(frozen=True)
class PortalSession:
    token_hash: bytes
    customer_id: int
    operator_id: int
    operator_path: str
    csrf_token: str
    expires_at: datetime

    @property
    def scope(self) -> CustomerScope:
        return CustomerScope(self.customer_id, self.operator_id, self.operator_path)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _code_hash(customer_id: int, code: str) -> bytes:
    # A million codes can be tried offline against any hash; what protects a code is that it lives 5 minutes
    # and allows 5 tries. The hash only keeps a database reader from using a live code directly.
    return _digest(f"portal-otp:{customer_id}:{code}")


async def customer_scope(conn: asyncpg.Connection, customer_id: int) -> CustomerScope:
    """The one-customer scope for a customer (their operator's path, narrowed to them); NotFound if missing."""
    row = await conn.fetchrow("SELECT c.id, c.operator_id, o.path::text AS path FROM customers c"
                              " JOIN operators o ON o.id = c.operator_id WHERE c.id = $1", customer_id)
    if row is None:
        raise NotFound(_("Customer %(id)s was not found.", id=customer_id))
    return CustomerScope(row["id"], row["operator_id"], row["path"])


# ---- throttle -------------------------------------------------------------------------------------------

async def _admit(conn: asyncpg.Connection, kind: str, login: str, ip: str | None, now: datetime) -> int:
    """Count this attempt (as failed until marked otherwise) if both limits allow it; returns its id.
    Locks: login first, then address, in one namespace per kind, so two attempts never wait in a cycle."""
    per_login, per_address = LIMITS[kind]
    counted = "true" if kind == "otp_send" else "NOT succeeded"
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('portal:' || $1), hashtext(lower($2))),"
                           " pg_advisory_xact_lock(hashtext('portal-ip:' || $1), hashtext(coalesce($3::inet::text, '')))",
                           kind, login, ip)
        row = await conn.fetchrow(
            f"SELECT count(*) FILTER (WHERE lower(login) = lower($2)) AS by_login,"  # noqa: S608 - fixed fragment
            "        count(*) FILTER (WHERE ip IS NOT DISTINCT FROM $3::inet) AS by_address"
            f"  FROM portal_login_attempts WHERE kind = $1 AND at > $4 AND {counted}"
            "   AND (lower(login) = lower($2) OR ip IS NOT DISTINCT FROM $3::inet)", kind, login, ip, now - WINDOW)
        if row["by_login"] >= per_login or (ip is not None and row["by_address"] >= per_address):
            raise PortalLoginRefused(_("Too many attempts. Wait 15 minutes, then try again."))
        return await conn.fetchval(
            "INSERT INTO portal_login_attempts (kind, login, ip, succeeded, at) VALUES ($1, $2, $3::inet, $4, $5)"
            " RETURNING id", kind, login[:64], ip, kind == "otp_send", now)


async def _settle(conn: asyncpg.Connection, attempt_id: int, ok: bool) -> None:
    await conn.execute("UPDATE portal_login_attempts SET succeeded = $2 WHERE id = $1", attempt_id, ok)


# ---- username + password --------------------------------------------------------------------------------

_DUMMY_PASSWORD = secrets.token_hex(32)


async def login_with_password(conn: asyncpg.Connection, username: str, password: str, ip: str | None,
                              now: datetime | None = None) -> tuple[str, PortalSession]:
    """Check the customer's RADIUS password; returns (session token, session). PortalLoginRefused otherwise."""
    now = now or clock.now()
    username = (username or "").strip()[:64]
    attempt_id = await _admit(conn, "password", username, ip, now)
    row = await conn.fetchrow("SELECT id, operator_id, radius_password, status FROM customers WHERE username = $1",
                              username)
    # compared in constant time, against a throwaway secret for an unknown user, so timing tells nothing
    stored = row["radius_password"] if row else _DUMMY_PASSWORD
    ok = hmac.compare_digest((password or "").encode(), stored.encode()) and row is not None and _may_log_in(row)
    await _settle(conn, attempt_id, ok)
    if not ok:
        raise PortalLoginRefused(str(WRONG_PASSWORD))
    return await create_session(conn, row["id"], "password", ip, now)


# ---- mobile + one-time code ------------------------------------------------------------------------------

def _may_log_in(customer: asyncpg.Record) -> bool:
    """The one rule of who may use the portal: anyone but a disabled (closed) customer. A suspended or expired
    customer must be able to log in: the portal is where they pay."""
    return customer["status"] != "disabled"


async def _customer_by_mobile(conn: asyncpg.Connection, mobile: str) -> asyncpg.Record | None:
    # A number shared by several customers (a family with two connections) signs in the newest of them that may
    # log in, and the portal then offers the others (siblings, switch); a closed connection gets no code: the
    # page answers as for an unknown number.
    rows = await conn.fetch("SELECT id, operator_id, status FROM customers WHERE mobile = $1"
                            " ORDER BY created_at DESC, id DESC", mobile)
    return next((row for row in rows if _may_log_in(row)), None)


async def siblings(conn: asyncpg.Connection, session: PortalSession) -> list[asyncpg.Record]:
    """The connections a session logged in by SMS code may switch to: every customer who may log in and has the
    number the code went to, this one included (newest first). Empty after a password login: a password proves
    one account. Works in the one-customer scope (migration 0059's SECURITY DEFINER function)."""
    rows = await conn.fetch("SELECT * FROM radbill_portal_siblings($1)", session.token_hash)
    return [row for row in rows if _may_log_in(row)]


async def switch(conn: asyncpg.Connection, session: PortalSession, customer_id: int, ip: str | None,
                 now: datetime | None = None) -> tuple[str, PortalSession]:
    """A new session for `customer_id`, one of `session`'s siblings, replacing `session`; PortalLoginRefused for
    any other customer (the same sentence whether or not it exists)."""
    now = now or clock.now()
    mobile = await conn.fetchval("SELECT verified_mobile FROM portal_sessions WHERE id_hash = $1", session.token_hash)
    if mobile is None or customer_id not in {row["id"] for row in await siblings(conn, session)}:
        raise PortalLoginRefused(_("That connection is not one you can switch to from here. Log in to it with its"
                                   " username and password."))
    async with conn.transaction():
        await logout(conn, session)
        return await create_session(conn, customer_id, "otp", ip, now, verified_mobile=mobile)


def _normal_mobile(mobile: str) -> str | None:
    try:
        return validate.mobile(mobile or "")
    except ValueError:
        return None


async def request_code(conn: asyncpg.Connection, mobile: str, ip: str | None, now: datetime | None = None) -> str:
    """Send a 6-digit code by SMS if the number is a customer's; the same sentence either way (or
    PortalLoginRefused when throttled, counted per number and per address whether or not it is known)."""
    now = now or clock.now()
    number = _normal_mobile(mobile)
    if number is None:
        raise PortalLoginRefused(_("Enter your mobile number, like 01712345678."))
    await _admit(conn, "otp_send", number, ip, now)
    customer = await _customer_by_mobile(conn, number)
    if customer is None:
        return str(CODE_SENT)
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    async with conn.transaction():
        # a new code replaces any earlier one: only the latest can be used
        await conn.execute("UPDATE portal_otps SET used_at = $2 WHERE customer_id = $1 AND used_at IS NULL",
                           customer["id"], now)
        otp_id = await conn.fetchval(
            "INSERT INTO portal_otps (operator_id, customer_id, code_hash, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id", customer["operator_id"], customer["id"],
            _code_hash(customer["id"], code), now, now + CODE_TTL)
        await sms_events.queue_event(conn, customer["operator_id"], customer["id"], "portal_otp",
                                     f"sms:portal_otp:{otp_id}", **otp_sms.payload_fields(customer["id"], code))
    return str(CODE_SENT)


async def login_with_code(conn: asyncpg.Connection, mobile: str, code: str, ip: str | None,
                          now: datetime | None = None) -> tuple[str, PortalSession]:
    """Check the latest code sent to the number (5 minutes, 5 tries, once); returns (token, session)."""
    now = now or clock.now()
    number = _normal_mobile(mobile) or (mobile or "").strip()[:64]
    attempt_id = await _admit(conn, "otp_verify", number, ip, now)
    customer = await _customer_by_mobile(conn, number)
    ok = False
    if customer is not None:
        # the try is counted atomically before the comparison: 5 concurrent guesses use up all 5 tries
        otp = await conn.fetchrow(
            "UPDATE portal_otps SET tries = tries + 1 WHERE id = (SELECT id FROM portal_otps WHERE customer_id = $1"
            "   AND used_at IS NULL AND expires_at > $2 ORDER BY id DESC LIMIT 1) AND tries < $3"
            " RETURNING id, code_hash", customer["id"], now, CODE_TRIES)
        typed = (code or "").strip()
        if otp is not None and hmac.compare_digest(otp["code_hash"], _code_hash(customer["id"], typed)):
            ok = await conn.fetchval("UPDATE portal_otps SET used_at = $2 WHERE id = $1 AND used_at IS NULL"
                                     " RETURNING true", otp["id"], now) or False
    await _settle(conn, attempt_id, ok)
    if not ok:
        raise PortalLoginRefused(str(WRONG_CODE))
    return await create_session(conn, customer["id"], "otp", ip, now, verified_mobile=number)


# ---- sessions ---------------------------------------------------------------------------------------------

async def create_session(conn: asyncpg.Connection, customer_id: int, method: str, ip: str | None,
                         now: datetime | None = None, verified_mobile: str | None = None
                         ) -> tuple[str, PortalSession]:
    """A new portal session for the customer; only the token's sha256 is stored. `verified_mobile`: the number
    an SMS code was checked against (the customers sharing it may be switched to)."""
    now = now or clock.now()
    token = secrets.token_urlsafe(32)
    scope = await customer_scope(conn, customer_id)
    row = await conn.fetchrow(
        "INSERT INTO portal_sessions (id_hash, operator_id, customer_id, csrf_token, method, ip, created_at,"
        " last_seen_at, expires_at, verified_mobile) VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $7, $8, $9)"
        " RETURNING *", _digest(token), scope.operator_id, customer_id, secrets.token_urlsafe(24), method, ip, now,
        now + SESSION_MAX, verified_mobile)
    return token, PortalSession(row["id_hash"], customer_id, scope.operator_id, scope.path, row["csrf_token"],
                                row["expires_at"])


async def load_session(conn: asyncpg.Connection, token: str, now: datetime | None = None) -> PortalSession | None:
    """The live session for a cookie's token (idle 2 hours or 7 days old: gone), touching its last use."""
    if not token:
        return None
    now = now or clock.now()
    row = await conn.fetchrow(
        "UPDATE portal_sessions s SET last_seen_at = $2 FROM customers c JOIN operators o ON o.id = c.operator_id"
        " WHERE s.id_hash = $1 AND c.id = s.customer_id AND s.expires_at > $2 AND s.last_seen_at > $3"
        " RETURNING s.*, o.path::text AS path", _digest(token), now, now - SESSION_IDLE)
    if row is None:
        return None
    return PortalSession(row["id_hash"], row["customer_id"], row["operator_id"], row["path"], row["csrf_token"],
                         row["expires_at"])


async def logout(conn: asyncpg.Connection, session: PortalSession) -> None:
    await conn.execute("DELETE FROM portal_sessions WHERE id_hash = $1", session.token_hash)
