"""The outbox dispatcher: claim due rows, run the handler for their kind, record the outcome.

Claiming is one statement (`FOR UPDATE SKIP LOCKED`) that also counts the attempt and leases the row by
pushing `next_attempt_at` past the longest send, so two dispatchers never send the same row and a row whose
dispatcher died is sent again once its lease runs out. Claims are fair across destinations and a silent
destination gets a circuit breaker (outbox_lanes); `drain` runs the destinations side by side. Every attempt lands on the customer's timeline
(audit_log, object 'customer'); when the last one fails the row gets `failed_at` and an alert
(radbill.services.alerts: counted in its group, and an audit row with action 'alert'). Kinds without a registered handler are never claimed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import asyncpg
from pyrad import packet
from pyrad.client import Client, Timeout

from radbill.i18n import _, use_locale
from radbill.policy.vendors import dynamic_authorization
from radbill.radius.client import dictionary
from radbill.services import alerts, audit
from radbill.services.outbox_lanes import claim_lanes, record_breaker
from radbill.services.recipient_locale import operator_locale

log = logging.getLogger("radbill.outbox")

CHANNEL = "radbill_outbox"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with proportional jitter: base, base*factor, ... capped at max_delay."""

    max_attempts: int = 8
    base_delay: float = 10.0
    factor: float = 2.0
    max_delay: float = 900.0
    jitter: float = 0.2

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        plain = min(self.max_delay, self.base_delay * self.factor ** (attempt - 1))
        return plain * (1 + self.jitter * (2 * rand() - 1))


@dataclass(frozen=True)
class DispatchSettings:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    radius_timeout: float = 2.0  # seconds per RADIUS transmission
    radius_tries: int = 2        # transmissions per attempt (same id and authenticator: a NAS answers a retransmit)
    batch_size: int = 50
    concurrency: int = 20        # rows in flight at once, all destinations together
    per_destination: int = 5     # rows in flight at once for one router or webhook endpoint
    sms_lane: int = 10           # rows in flight at once in the SMS lane (the gateway's rate limit spaces them)
    breaker_after: int = 3       # consecutive timeouts that open a destination's breaker
    poll_interval: float = 0.05  # while rows are in flight, how often drain looks for newly due ones
    webhook_timeout: float = 10.0  # seconds for one webhook POST (well inside the lease)
    webhook_disable_days: float = 3.0  # an endpoint failing this long without a success is disabled

    @property
    def lease_seconds(self) -> float:
        return self.radius_timeout * self.radius_tries + 30


@dataclass(frozen=True)
class Outcome:
    """What one attempt did. `status`: ack, gone (the router no longer holds the session: a disconnect's aim
    is met), nak, timeout or error; `retry=False` gives up at once."""

    status: str
    result: dict = field(default_factory=dict)
    error: str | None = None
    retry: bool = True
    alert: str | None = None  # the alert kind when giving up, if the handler knows it (radbill.services.alerts)

    @property
    def ok(self) -> bool:
        return self.status in ("ack", "gone")


Handler = Callable[[asyncpg.Connection, asyncpg.Record, DispatchSettings], Awaitable[Outcome]]
HANDLERS: dict[str, Handler] = {}


def register(kind: str) -> Callable[[Handler], Handler]:
    """Make `handler(conn, row, settings) -> Outcome` the dispatcher of outbox rows of `kind`."""
    def add(handler: Handler) -> Handler:
        HANDLERS[kind] = handler
        return handler
    return add


# `attempts = $2`: only the dispatcher holding this lease records (not a superseded or re-armed row)
FINISH_DONE = """UPDATE outbox SET done_at = now(), result = $3::jsonb, last_error = NULL
                  WHERE id = $1 AND attempts = $2 AND done_at IS NULL AND failed_at IS NULL"""
FINISH_RETRY = """UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $4), result = $3::jsonb,
                         last_error = $5
                   WHERE id = $1 AND attempts = $2 AND done_at IS NULL AND failed_at IS NULL
                  RETURNING next_attempt_at"""
FINISH_FAILED = """UPDATE outbox SET failed_at = now(), result = $3::jsonb, last_error = $4
                    WHERE id = $1 AND attempts = $2 AND done_at IS NULL AND failed_at IS NULL"""


async def claim(conn: asyncpg.Connection, kinds: list[str], settings: DispatchSettings,
                in_flight: dict[str, int] | None = None, limit: int | None = None) -> list[asyncpg.Record]:
    """Claim up to batch_size (or `limit`) due rows of `kinds`, fairly across destinations."""
    return await claim_lanes(conn, kinds, settings.batch_size if limit is None else limit,
                             settings.per_destination, settings.sms_lane, settings.lease_seconds, in_flight)


async def dispatch_due(pool: asyncpg.Pool, settings: DispatchSettings | None = None,
                       handlers: dict[str, Handler] | None = None) -> int:
    """Claim and process one batch of due rows, waiting for all of them; returns how many were processed."""
    settings = settings or DispatchSettings()
    handlers = HANDLERS if handlers is None else handlers
    async with pool.acquire() as conn:
        rows = await claim(conn, sorted(handlers), settings)
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(row):
        async with gate:
            await _process_row(pool, row, handlers, settings)

    await asyncio.gather(*(one(row) for row in rows))
    return len(rows)


async def drain(pool: asyncpg.Pool, settings: DispatchSettings | None = None, max_seconds: float = 10.0,
                handlers: dict[str, Handler] | None = None) -> int:
    """Dispatch until nothing is due and nothing is in flight (or `max_seconds` passed, then finish what is in
    flight); returns how many rows were processed. Rows run side by side and new ones are claimed every
    poll_interval while others are in flight, so a destination whose rows wait on timeouts delays no other."""
    settings = settings or DispatchSettings()
    handlers = HANDLERS if handlers is None else handlers
    kinds = sorted(handlers)
    running: dict[asyncio.Task, str] = {}
    deadline = time.monotonic() + max_seconds
    total, claimed_at = 0, 0.0
    try:
        while True:
            room, now = settings.concurrency - len(running), time.monotonic()
            rows = []
            # claim when idle, else at most once per poll_interval (a claim per finished row would make the
            # claim the bottleneck of a fast lane)
            if room > 0 and now < deadline and (not running or now - claimed_at >= settings.poll_interval):
                claimed_at = now
                async with pool.acquire() as conn:
                    rows = await claim(conn, kinds, settings, Counter(running.values()), min(room, settings.batch_size))
            for row in rows:
                running[asyncio.create_task(_process_row(pool, row, handlers, settings))] = row["destination"]
            total += len(rows)
            if not running:
                return total
            wait = max(claimed_at + settings.poll_interval - time.monotonic(), 0.001)
            finished, _ = await asyncio.wait(running, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                del running[task]
    finally:
        if running:  # cancelled or failed: let what is in flight record its outcome
            await asyncio.gather(*running, return_exceptions=True)


async def _process_row(pool: asyncpg.Pool, row: asyncpg.Record, handlers: dict[str, Handler],
                       settings: DispatchSettings) -> None:
    async with pool.acquire() as conn:
        await _process(conn, row, handlers[row["kind"]], settings)


async def _process(conn: asyncpg.Connection, row: asyncpg.Record, handler: Handler,
                   settings: DispatchSettings) -> None:
    try:
        outcome = await handler(conn, row, settings)
    except Exception as exc:  # a handler bug must not stop the other rows; it is retried and alerted like a NAK
        log.exception("outbox %s (%s) handler failed", row["id"], row["kind"])
        outcome = Outcome("error", error=f"{type(exc).__name__}: {exc}")
    await record_outcome(conn, row, outcome, settings)


async def record_outcome(conn: asyncpg.Connection, row: asyncpg.Record, outcome: Outcome,
                         settings: DispatchSettings) -> None:
    """Store one attempt's outcome on the row and on the customer's timeline; alert when giving up."""
    payload = _payload(row)
    attempt = row["attempts"]
    result = {"status": outcome.status, "attempt": attempt, **outcome.result}
    detail = {"outbox_id": row["id"], "kind": row["kind"], "attempt": attempt, "outcome": outcome.status,
              **{k: payload.get(k) for k in ("nas_ip", "acct_session_id", "reason", "attributes") if payload.get(k)},
              **outcome.result}
    if outcome.error:
        detail["error"] = outcome.error
    async with conn.transaction():
        await record_breaker(conn, row["destination"], outcome.status, outcome.error, settings.breaker_after)
        customer_id, operator_id = await _subject(conn, row, payload)
        if outcome.ok:
            await conn.execute(FINISH_DONE, row["id"], attempt, json.dumps(result))
            log.info("outbox %s %s for %s: %s", row["id"], row["kind"], payload.get("username"), outcome.status)
        elif outcome.retry and attempt < settings.retry.max_attempts:
            delay = settings.retry.delay(attempt)
            due = await conn.fetchval(FINISH_RETRY, row["id"], attempt, json.dumps(result), delay, outcome.error)
            detail["next_attempt_at"] = due
            log.warning("outbox %s %s for %s: %s (attempt %d, retry in %.1fs)", row["id"], row["kind"],
                        payload.get("username"), outcome.error or outcome.status, attempt, delay)
        else:
            await conn.execute(FINISH_FAILED, row["id"], attempt, json.dumps(result), outcome.error)
            detail["gave_up"] = True
            log.error("outbox %s %s for %s failed for good: %s", row["id"], row["kind"], payload.get("username"),
                      outcome.error or outcome.status)
        kind, object_id = ("customer", customer_id) if customer_id else ("outbox", row["id"])
        await audit.record(conn, None, f"outbox.{row['kind']}", kind, object_id, detail, operator_id=operator_id)
        if detail.get("gave_up"):
            await _raise_alert(conn, row, payload, outcome, (kind, object_id), customer_id, operator_id)


async def _raise_alert(conn, row, payload: dict, outcome: Outcome, on: tuple[str, int | None],
                       customer_id: int | None, operator_id: int | None) -> None:
    """The alert for a job given up: counted in its group under the operator who can fix it (the router's owner
    for a router job), recorded on the customer's (or the outbox row's) timeline."""
    alert_kind, cause = alerts.classify(row["kind"], outcome.status, outcome.alert, outcome.error, payload)
    owner = operator_id
    if alert_kind.startswith("router_"):
        owner = await alerts.router_owner(conn, payload.get("nas_ip")) or operator_id
    subject = {"outbox_id": row["id"], "kind": row["kind"], "customer_id": customer_id,
               "username": payload.get("username"), "nas_ip": payload.get("nas_ip")}
    if owner is None:  # a system row with no operator at all: the group admin's
        owner = await conn.fetchval("SELECT id FROM operators WHERE parent_id IS NULL ORDER BY id LIMIT 1")
    # stored as text: written in the language of the operator whose staff read it
    with use_locale(await operator_locale(conn, owner)):
        # what was sent: a rate CoA the router type cannot apply went as a Disconnect (policy/vendors.py)
        message = failure_message(outcome.result.get("sent") or row["kind"], payload, row["attempts"], outcome)
    await alerts.raise_alert(conn, owner, alert_kind, cause, message, {k: v for k, v in subject.items() if v},
                             on[0], on[1], audit_operator_id=operator_id)


def failure_message(kind: str, payload: dict, attempts: int, outcome: Outcome) -> str:
    """The alert sentence staff read: what failed and what to do."""
    names = {"username": payload.get("username"), "sid": payload.get("acct_session_id"),
             "nas": payload.get("nas_ip"), "attempts": attempts, "why": outcome.error or outcome.status, "kind": kind}
    if kind == "disconnect":
        return _("Could not disconnect %(username)s's session %(sid)s on router %(nas)s after %(attempts)s "
                 "attempt(s): %(why)s. Check the router's CoA port and secret, then end the session on the router "
                 "by hand.", **names)
    if kind == "coa":
        return _("Could not change the speed of %(username)s's session %(sid)s on router %(nas)s after "
                 "%(attempts)s attempt(s): %(why)s. Check the router's CoA port and secret, then end the session "
                 "on the router by hand.", **names)
    if names["username"]:
        return _("Could not deliver %(kind)s for %(username)s after %(attempts)s attempt(s): %(why)s.", **names)
    return _("Could not deliver %(kind)s for a customer after %(attempts)s attempt(s): %(why)s.", **names)


def _payload(row) -> dict:
    value = row["payload"]
    return json.loads(value) if isinstance(value, str) else dict(value)


async def _subject(conn, row, payload) -> tuple[int | None, int | None]:
    """(customer_id, operator_id) the attempt belongs to; the accounting hook's rows carry only a username."""
    customer = None
    if payload.get("customer_id"):
        customer = await conn.fetchrow("SELECT id, operator_id FROM customers WHERE id = $1",
                                       int(payload["customer_id"]))
    elif payload.get("username"):
        customer = await conn.fetchrow("SELECT id, operator_id FROM customers WHERE username = $1",
                                       payload["username"])
    if customer is None:
        return None, row["operator_id"]
    return customer["id"], customer["operator_id"]


# --- RADIUS Dynamic Authorization (RFC 5176) -------------------------------------------------------------

ACK_CODES = {packet.DisconnectACK, packet.CoAACK}
# pyrad blocks while it waits for a reply: sends get threads of their own, so a silent router's waits never
# queue behind (or in front of) the default executor's other work
RADIUS_SENDS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="radbill-coa")
NAK_CODES = {packet.DisconnectNAK, packet.CoANAK}
REQUEST_CODES = {"disconnect": packet.DisconnectRequest, "coa": packet.CoARequest}
SESSION_GONE = {"503", "Session-Context-Not-Found"}  # RFC 5176 Error-Cause


@register("disconnect")
@register("coa")
async def send_dynamic_authorization(conn: asyncpg.Connection, row: asyncpg.Record,
                                     settings: DispatchSettings) -> Outcome:
    """Send the row's Disconnect-Request or CoA-Request to the router that holds the session."""
    payload = _payload(row)
    nas = await conn.fetchrow("SELECT nasname, secret, coa_port, status, type FROM nas"
                              " WHERE nasname::inet = $1::inet", payload["nas_ip"])
    if nas is None or nas["status"] != "active":
        return Outcome("error", error=f"router {payload['nas_ip']} is not in the routers list (or is disabled)",
                       retry=False)
    kind, attributes = dynamic_authorization(nas["type"], row["kind"], payload)
    send = functools.partial(send_rfc5176, REQUEST_CODES[kind], payload["nas_ip"], nas["coa_port"],
                             nas["secret"], list(attributes), settings.radius_timeout, settings.radius_tries)
    code, attributes = await asyncio.get_running_loop().run_in_executor(RADIUS_SENDS, send)
    result = {"nas_ip": payload["nas_ip"], "coa_port": nas["coa_port"]}
    if kind != row["kind"]:
        result["sent"] = kind  # a rate CoA this router type cannot apply went as a Disconnect
    if code is None:
        return Outcome("timeout", result, error=f"no answer from {payload['nas_ip']}:{nas['coa_port']}")
    result["reply_code"] = code
    if "Error-Cause" in attributes:
        result["error_cause"] = attributes["Error-Cause"]
    if code in ACK_CODES:
        return Outcome("ack", result)
    if code == packet.DisconnectNAK and str(attributes.get("Error-Cause")) in SESSION_GONE:
        # a re-armed disconnect can cross the session's Stop; retrying would only hear the same answer
        return Outcome("gone", result)
    if code in NAK_CODES:
        return Outcome("nak", result, error=f"the router refused (Error-Cause {attributes.get('Error-Cause', '?')})")
    return Outcome("error", result, error=f"unexpected reply code {code}")


def send_rfc5176(code: int, host: str, port: int, secret: str, attributes: list[tuple[str, str]],
                 timeout: float, tries: int) -> tuple[int | None, dict]:
    """Blocking: send one Disconnect/CoA-Request with a Message-Authenticator; (reply code, attributes) or
    (None, {}) when the router does not answer. Replies with a wrong authenticator are ignored by pyrad."""
    client = Client(server=host, coaport=port, secret=secret.encode(), dict=dictionary(), timeout=timeout,
                    retries=tries)
    request = client.CreateCoAPacket(code=code)
    request.add_message_authenticator()  # Blast-RADIUS: RouterOS 7.15+ can require it
    for name, value in attributes:
        request.AddAttribute(name, value)
    try:
        reply = client.SendPacket(request)
    except Timeout:
        return None, {}
    finally:
        client._CloseSocket()  # pyrad has no public close; one socket per send keeps ids from colliding
    return reply.code, {str(k): reply[k][0] for k in reply.keys() if k != "Message-Authenticator"}
