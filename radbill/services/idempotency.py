"""The Idempotency-Key rule of the API's unsafe requests, in one function (`run`).

- A key not seen in the last TTL: the action runs, and its response is stored with the key in the SAME
  transaction (sql/migrations/0044), so the key and the work commit together or not at all.
- The same key again with the same request (fingerprint: method, path and body bytes): the stored response is
  returned (same status, same body) and nothing runs.
- The same key with another request: KeyReused (the client's bug; nothing runs).
- The same key while the first request is still running: the second waits on the key's unique index until the
  first commits (then gets its response) or rolls back (then runs itself); after IN_FLIGHT_WAIT it gets KeyInFlight.
- An action that fails stores nothing (its transaction rolled back): the client may retry with the same key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from radbill import clock
from radbill.errors import RadbillError, ValidationError
from radbill.i18n import _
from radbill.tenancy import Scope

TTL = timedelta(hours=24)
# how long a duplicate waits for the first request with its key (a payment takes milliseconds; a stuck one is a bug)
IN_FLIGHT_WAIT = "10s"
MAX_KEY = 255


class KeyReused(ValidationError):
    """The key was used in the last 24 hours for a different request (another body, method or path)."""


class KeyInFlight(RadbillError):
    """A request with this key is still being processed; retry after it finishes."""


@dataclass(frozen=True, slots=True)
class Response:
    """What the API answers: a status and a JSON body; `replayed` when it is the stored answer of an earlier call."""

    status: int
    body: dict
    replayed: bool = False


def _json_value(value) -> str:
    """Dates and times as ISO 8601 (what the API answers), anything else (inet, UUID) as its text."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    """Which request a key was used for: the same bytes to the same address with the same method."""
    return hashlib.sha256(method.upper().encode() + b" " + path.encode() + b"\n" + body).digest()


def check_key(raw: str | None) -> str:
    """The Idempotency-Key header as given: required, 1 to 255 visible ASCII characters."""
    key = (raw or "").strip()
    if not key:
        raise ValidationError(_("Send an Idempotency-Key header (for example a random UUID) with this request, so "
                                "that sending it again cannot record it twice."), {"Idempotency-Key": _("required")})
    if len(key) > MAX_KEY or not all(33 <= ord(ch) <= 126 for ch in key):
        raise ValidationError(_("The Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is ideal)."),
                              {"Idempotency-Key": _("malformed")})
    return key


CLAIM = """
    INSERT INTO api_idempotency (client_id, operator_id, key, fingerprint, created_at)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (client_id, key) DO UPDATE
       SET fingerprint = EXCLUDED.fingerprint, operator_id = EXCLUDED.operator_id, created_at = EXCLUDED.created_at,
           status = NULL, body = NULL
     WHERE api_idempotency.created_at <= $6   -- an expired key is a new key
    RETURNING id
"""


async def _claim(conn: asyncpg.Connection, scope: Scope, client_id: int, key: str, print_: bytes,
                 now: datetime) -> Response | None:
    """Take the key inside the caller's transaction (None: ours, go ahead) or return its stored response."""
    previous = await conn.fetchval("SELECT current_setting('lock_timeout')")
    await conn.execute("SELECT set_config('lock_timeout', $1, true)", IN_FLIGHT_WAIT)
    try:
        claimed = await conn.fetchval(CLAIM, client_id, scope.operator_id, key, print_, now, now - TTL)
    except asyncpg.LockNotAvailableError:
        raise KeyInFlight(_("A request with this Idempotency-Key is still being processed. Wait a moment and send "
                            "it again: you will get its result.")) from None
    await conn.execute("SELECT set_config('lock_timeout', $1, true)", previous)
    if claimed is not None:
        return None
    stored = await conn.fetchrow("SELECT fingerprint, status, body FROM api_idempotency"
                                 " WHERE client_id = $1 AND key = $2", client_id, key)
    # (None: the key was used in a scope this one cannot see, the client's scope having changed since)
    if stored is None or stored["fingerprint"] != print_:
        raise KeyReused(_("This Idempotency-Key was already used for another request. Use a new key for a new "
                          "request."), {"Idempotency-Key": _("already used")})
    return Response(stored["status"], json.loads(stored["body"]), replayed=True)


async def run(conn: asyncpg.Connection, scope: Scope, client_id: int, key: str, print_: bytes,
              action: Callable[[asyncpg.Connection], Awaitable[Response]], now: datetime | None = None) -> Response:
    """The rule (module docstring): replay, refuse, or run `action(conn)` and keep its response with the key, all
    in one transaction. `action` runs its services on `conn` (their transactions nest as savepoints)."""
    now = now or clock.now()
    async with conn.transaction():
        stored = await _claim(conn, scope, client_id, key, print_, now)
        if stored is not None:
            return stored
        response = await action(conn)
        body = json.dumps(response.body, default=_json_value)
        await conn.execute("UPDATE api_idempotency SET status = $3, body = $4::jsonb"
                           " WHERE client_id = $1 AND key = $2", client_id, key, response.status, body)
    # the first answer is the stored one, to the byte: a replay cannot differ from it
    return Response(response.status, json.loads(body))


async def purge(conn: asyncpg.Connection, now: datetime) -> int:
    """Delete keys older than TTL (the scheduler, hourly); returns how many."""
    result = await conn.execute("DELETE FROM api_idempotency WHERE created_at <= $1", now - TTL)
    return int(result.split()[-1])
