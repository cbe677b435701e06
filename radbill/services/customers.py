"""The one write path for a customer's status, package and price.

Each action: scoped load (a foreign id is NotFound, like a missing one) → validation → one transaction holding
the change, an outbox row per open session (disconnect, or CoA on MikroTik routers) and an audit row. The RADIUS
snapshot follows by itself: the customers trigger NOTIFYs radbill_policy with the username.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import asyncpg

from radbill.billing.money import check_amount
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.policy import Speeds, state_label
from radbill.policy.vendors import vendor
from radbill.services import audit, sms_events, webhooks
from radbill.services.outbox_queue import enqueue
from radbill.tenancy import Scope

CUSTOMER_IN_SCOPE = """
    SELECT c.*, o.kind AS operator_kind, o.path::text AS operator_path, o.parent_id AS operator_parent_id,
           o.currency, o.timezone
      FROM customers c JOIN operators o ON o.id = c.operator_id
     WHERE c.id = $1 AND o.path <@ $2::ltree
"""
LOCKS = {"update": " FOR UPDATE OF c", "no key update": " FOR NO KEY UPDATE OF c"}

# A customer may use a package its own operator owns, or one assigned to that operator. A customer of an
# operator (not a sub-operator) may also use its ancestors' packages: the "operator chain" (radbill_sellable,
# sql/migrations/0019, is that rule for every caller).
SELLABLE_PACKAGE = """
    SELECT p.* FROM packages p
     WHERE p.id = $1 AND radbill_sellable('package', p.id, $2)
"""

OPEN_SESSIONS = """
    SELECT r.acctsessionid, r.acctuniqueid, host(r.nasipaddress) AS nas_ip, host(r.framedipaddress) AS framed_ip,
           r.acctstarttime, n.type AS nas_type
      FROM radacct r LEFT JOIN nas n ON n.nasname::inet = r.nasipaddress
     WHERE r.username = $1 AND r.acctstoptime IS NULL
     ORDER BY r.radacctid
"""

# Which status each action may start from; the same status again is a no-op (a double click).
ALLOWED_FROM = {
    "suspended": {"active"},
    "disabled": {"active", "suspended"},
    "active": {"suspended", "disabled"},
}
VERBS = {"suspended": "suspend", "disabled": "disable", "active": "activate"}  # audit action names, not text
# one whole sentence per status, so a translation never has to glue a status word into a sentence
_REASON_NEEDED = {"suspended": lazy_gettext("Say why the customer is suspended (the reason is shown to staff)."),
                  "disabled": lazy_gettext("Say why the customer is disabled (the reason is shown to staff).")}
_ACTIVATE_FIRST = {
    "suspended": lazy_gettext("Customer %(username)s is %(status)s; activate them before you suspend them."),
    "disabled": lazy_gettext("Customer %(username)s is %(status)s; activate them before you disable them."),
}
_ACTIVATE_FIRST_ANY = lazy_gettext("Customer %(username)s is %(status)s; activate them first.")


@dataclass(frozen=True)
class Transition:
    """A status action staff can take. `needs_reason`: refused without a reason (kept on the timeline);
    `needs_confirm`: the admin asks first (it cannot be undone by the customer paying); `confirm_when_online`:
    it asks first only while a session is open (the action drops it)."""

    action: str
    status: str
    needs_reason: bool
    needs_confirm: bool
    confirm_when_online: bool = False

    def asks_confirmation(self, online: bool) -> bool:
        return self.needs_confirm or (self.confirm_when_online and online)


TRANSITIONS = {t.action: t for t in (
    Transition("activate", "active", needs_reason=False, needs_confirm=False),
    Transition("suspend", "suspended", needs_reason=True, needs_confirm=False, confirm_when_online=True),
    Transition("disable", "disabled", needs_reason=True, needs_confirm=True),
)}


def available_transitions(status: str) -> list[Transition]:
    """The actions that can start from `status` (what the customer page offers as buttons)."""
    return [t for t in TRANSITIONS.values() if status in ALLOWED_FROM[t.status]]


def transition(action: str | None) -> Transition:
    """The Transition named `action`; ValidationError when there is none."""
    if action not in TRANSITIONS:
        raise ValidationError(_("Choose suspend, disable or activate."), {"action": "unknown"})
    return TRANSITIONS[action]


async def get_customer(conn: asyncpg.Connection, scope: Scope, customer_id: int, for_update: bool = False, *,
                       lock: str | None = None) -> asyncpg.Record:
    """The customer (with its operator's kind, path, parent, currency and time zone) if it is in the scope's
    subtree; NotFound otherwise (missing and foreign look the same). `lock`: "update" or "no key update"."""
    lock = lock or ("update" if for_update else None)
    row = await conn.fetchrow(CUSTOMER_IN_SCOPE + (LOCKS[lock] if lock else ""), customer_id, scope.path)
    if row is None:
        raise NotFound(f"Customer {customer_id} was not found.")
    return row


async def suspend_customer(conn: asyncpg.Connection, scope: Scope, customer_id: int, reason: str,
                           ip: str | None = None) -> asyncpg.Record:
    """Suspend (billing): logins are refused or walled, open sessions are disconnected."""
    return await _set_status(conn, scope, customer_id, "suspended", reason, ip)


async def disable_customer(conn: asyncpg.Connection, scope: Scope, customer_id: int, reason: str,
                           ip: str | None = None) -> asyncpg.Record:
    """Disable (administrative): logins are refused, open sessions are disconnected."""
    return await _set_status(conn, scope, customer_id, "disabled", reason, ip)


async def activate_customer(conn: asyncpg.Connection, scope: Scope, customer_id: int, reason: str | None = None,
                            ip: str | None = None) -> asyncpg.Record:
    """Activate: the next login is accepted; walled-garden sessions opened while suspended are disconnected
    so the router logs the customer in again at full speed."""
    return await _set_status(conn, scope, customer_id, "active", reason, ip)


@dataclass(frozen=True)
class StatusPlan:
    """What a status action would do to this customer now (for the admin's confirmation step)."""

    transition: Transition
    customer: asyncpg.Record
    open_sessions: int
    reason: str | None

    @property
    def asks_confirmation(self) -> bool:
        return self.transition.asks_confirmation(self.open_sessions > 0)


async def plan_status_change(conn: asyncpg.Connection, scope: Scope, customer_id: int, action: str | None,
                             reason: str | None) -> StatusPlan:
    """Check a status action without taking it (the same rules as change_status); ValidationError says why not."""
    step = transition(action)
    customer = await get_customer(conn, scope, customer_id)
    reason = _checked_reason(step, reason)
    _check_allowed(customer, step.status)
    sessions = await conn.fetch(OPEN_SESSIONS, customer["username"])
    return StatusPlan(step, customer, len(sessions), reason)


async def change_status(conn: asyncpg.Connection, scope: Scope, customer_id: int, action: str | None,
                        reason: str | None, ip: str | None = None) -> asyncpg.Record:
    """Take the status action named `action` (suspend, disable, activate); ValidationError says what is missing."""
    return await _set_status(conn, scope, customer_id, transition(action).status, reason, ip)


def _checked_reason(step: Transition, reason: str | None) -> str | None:
    """The one place of the rule "this action needs a reason"."""
    reason = (reason or "").strip() or None
    if step.needs_reason and not reason:
        raise ValidationError(str(_REASON_NEEDED[step.status]), {"reason": "required"})
    return reason


def _check_allowed(customer, new_status: str) -> None:
    old = customer["status"]
    if old != new_status and old not in ALLOWED_FROM[new_status]:
        raise ValidationError(str(_ACTIVATE_FIRST.get(new_status, _ACTIVATE_FIRST_ANY)) % {
            "username": customer["username"], "status": state_label(old).lower()},
            {"status": f"cannot go from {old} to {new_status}"})


async def _set_status(conn, scope, customer_id, new_status, reason, ip) -> asyncpg.Record:
    reason = _checked_reason(TRANSITIONS[VERBS[new_status]], reason)
    async with conn.transaction():
        customer = await get_customer(conn, scope, customer_id, for_update=True)
        old = customer["status"]
        if old == new_status:
            return customer
        _check_allowed(customer, new_status)
        await conn.execute(
            "UPDATE customers SET status = $2, status_reason = $3, status_changed_at = now() WHERE id = $1",
            customer_id, new_status, reason)
        await sms_events.queue_status_sms(conn, customer, new_status)
        await webhooks.emit(conn, "customer.status_changed", customer["operator_id"], {
            "customer_id": customer_id, "username": customer["username"], "status": [old, new_status],
            "reason": reason})
        if new_status == "active":
            queued = await release_walled_sessions(conn, customer, customer["status_changed_at"], "reactivated")
        else:
            sessions = await conn.fetch(OPEN_SESSIONS, customer["username"])
            queued = [await _queue(conn, customer, "disconnect", s, new_status,
                                   f"disconnect:{s['acctuniqueid']}:{new_status}") for s in sessions]
        await audit.record(conn, scope, f"customer.{VERBS[new_status]}", "customer", customer_id,
                           {"status": [old, new_status], "reason": reason, "outbox_ids": [q for q in queued if q]}, ip)
        return await get_customer(conn, scope, customer_id)


async def release_walled_sessions(conn: asyncpg.Connection, customer, walled_since: datetime | None,
                                  reason: str) -> list[int]:
    """Disconnect the customer's open sessions that began while they were walled (at or after `walled_since`: the
    suspension, or the expiry) so the router logs them in again at full speed; an older session is already at full
    speed. The one rule for reactivation (reason "reactivated") and renewal after expiry ("renewed"); the portal's
    receipt says "reconnecting" by these reasons (walled_garden.reconnecting). Returns the new outbox ids."""
    if walled_since is None:
        return []
    sessions = await conn.fetch(OPEN_SESSIONS, customer["username"])
    # radacct keeps whole seconds: a session that began in the second of the suspension began after it
    since = walled_since.replace(microsecond=0)
    queued = [await _queue(conn, customer, "disconnect", s, reason, f"disconnect:{s['acctuniqueid']}:{reason}")
              for s in sessions if s["acctstarttime"] and s["acctstarttime"] >= since]
    return [q for q in queued if q]


async def change_package(conn: asyncpg.Connection, scope: Scope, customer_id: int, package_id: int,
                         ip: str | None = None) -> asyncpg.Record:
    """Move the customer to another package; open sessions get the new rate by CoA (MikroTik) or reconnect."""
    async with conn.transaction():
        customer = await get_customer(conn, scope, customer_id, for_update=True)
        if customer["package_id"] == package_id:
            return customer
        package = await sellable_package(conn, customer, package_id)
        old_profile = await conn.fetchval("SELECT router_profile FROM packages WHERE id = $1", customer["package_id"])
        await conn.execute("UPDATE customers SET package_id = $2 WHERE id = $1", customer_id, package_id)
        speeds = Speeds(package["download_kbps"], package["upload_kbps"], package["burst_download_kbps"],
                        package["burst_upload_kbps"], package["burst_threshold_download_kbps"],
                        package["burst_threshold_upload_kbps"], package["burst_time_seconds"])
        rate = speeds.rate_limit()
        queued = []
        # a suspended or disabled customer's sessions are already being ended (or walled at the walled rate)
        if customer["status"] == "active":
            for s in await conn.fetch(OPEN_SESSIONS, customer["username"]):
                # a new router profile cannot reach a live session by CoA either: it applies at the next login
                if vendor(s["nas_type"]).coa_rate and package["router_profile"] == old_profile:
                    key = f"coa:package:{s['acctuniqueid']}:{package_id}"
                    queued.append(await _queue(conn, customer, "coa", s, "package_change", key,
                                               speeds=asdict(speeds)))
                else:  # the router logs the customer in again with the new rate (and profile)
                    key = f"disconnect:{s['acctuniqueid']}:package_change:{package_id}"
                    queued.append(await _queue(conn, customer, "disconnect", s, "package_change", key))
        await webhooks.emit(conn, "customer.package_changed", customer["operator_id"], {
            "customer_id": customer_id, "username": customer["username"],
            "package_id": [customer["package_id"], package_id], "package": package["name"]})
        await audit.record(conn, scope, "customer.change_package", "customer", customer_id,
                           {"package_id": [customer["package_id"], package_id], "package": package["name"],
                            "rate_limit": rate, "outbox_ids": [q for q in queued if q]}, ip)
        return await get_customer(conn, scope, customer_id)


async def set_custom_price(conn: asyncpg.Connection, scope: Scope, customer_id: int, price_minor: int | None,
                           ip: str | None = None) -> asyncpg.Record:
    """Set (or clear, with None) the price this customer pays instead of the package price, in minor units."""
    if price_minor is not None and (isinstance(price_minor, bool) or not isinstance(price_minor, int)
                                    or price_minor < 0):
        raise ValidationError(_("A custom price is a whole, non-negative amount in poisha (or empty for the "
                              "package price)."), {"custom_price_minor": _("must be a whole number ≥ 0")})
    async with conn.transaction():
        customer = await get_customer(conn, scope, customer_id, for_update=True)
        if price_minor is not None:
            check_amount(price_minor, customer["currency"], "custom_price_minor", allow_zero=True)
        if customer["custom_price_minor"] == price_minor:
            return customer
        await conn.execute("UPDATE customers SET custom_price_minor = $2 WHERE id = $1", customer_id, price_minor)
        change = {"custom_price_minor": [customer["custom_price_minor"], price_minor]}
        await webhooks.customer_updated(conn, customer["operator_id"], customer_id, change)
        await audit.record(conn, scope, "customer.set_custom_price", "customer", customer_id, change, ip)
        return await get_customer(conn, scope, customer_id)


async def sellable_package(conn: asyncpg.Connection, customer: asyncpg.Record, package_id: int) -> asyncpg.Record:
    """The package if the customer's operator may sell it to this customer; ValidationError says why not."""
    package = await conn.fetchrow(SELLABLE_PACKAGE, package_id, customer["operator_id"])
    if package is None:
        if customer["operator_kind"] == "sub_operator":
            message = _("Package %(package)s is not available to %(username)s's operator: ask the operator to "
                        "assign it to this sub-operator first.", package=package_id, username=customer["username"])
        else:
            message = _("Package %(package)s is not available to %(username)s's operator: choose one of this "
                        "operator's own packages.", package=package_id, username=customer["username"])
        raise ValidationError(message,
                              {"package_id": _("not assigned to the customer's operator")})
    if package["status"] != "active":
        raise ValidationError(_("Package %(name)s is retired; choose an active package.", name=package["name"]),
                              {"package_id": "retired"})
    if customer["connection_type"] not in package["connection_types"]:
        raise ValidationError(_("Package %(name)s is not sold for %(connection_type)s connections.",
                                name=package["name"], connection_type=customer["connection_type"]),
                              {"package_id": _("wrong connection type")})
    return package


async def _queue(conn, customer, kind: str, session, reason: str, dedupe_key: str,
                 speeds: dict | None = None) -> int | None:
    """Queue one command for one open session (it supersedes the pending ones it makes pointless; see
    outbox_queue); returns the outbox id, or None when the same command is still pending."""
    payload = {"username": customer["username"], "acct_session_id": session["acctsessionid"],
               "acct_unique_id": session["acctuniqueid"], "nas_ip": session["nas_ip"],
               "framed_ip": session["framed_ip"], "reason": reason, "customer_id": customer["id"]}
    if speeds:
        payload["speeds"] = speeds  # the dispatcher writes them in the router type's attributes
    return await enqueue(conn, kind, customer["operator_id"], payload, dedupe_key)


async def customer_timeline(conn: asyncpg.Connection, scope: Scope, customer_id: int,
                            limit: int = 200) -> list[asyncpg.Record]:
    """The customer's history, newest first: changes, every disconnect/CoA attempt, alerts."""
    await get_customer(conn, scope, customer_id)
    return await conn.fetch(
        "SELECT id, at, account_id, action, detail, ip FROM audit_log"
        " WHERE object_kind = 'customer' AND object_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        customer_id, limit)


async def disconnect_session(conn: asyncpg.Connection, scope: Scope, customer_id: int, acct_unique_id: str,
                             ip: str | None = None) -> int | None:
    """Staff's "Disconnect now" for one open session: through the outbox like a suspension's disconnect (the
    attempt and its result land on the customer's timeline). Returns the outbox id, None if already queued."""
    async with conn.transaction():
        customer = await get_customer(conn, scope, customer_id, lock="no key update")
        session = next((s for s in await conn.fetch(OPEN_SESSIONS, customer["username"])
                        if s["acctuniqueid"] == acct_unique_id), None)
        if session is None:
            raise ValidationError(_("That session has already ended: there is nothing to disconnect."),
                                  {"acct_unique_id": _("not an open session of this customer")})
        queued = await _queue(conn, customer, "disconnect", session, "staff",
                              f"disconnect:{acct_unique_id}:staff")
        await audit.record(conn, scope, "customer.disconnect", "customer", customer_id,
                           {"acct_session_id": session["acctsessionid"], "nas_ip": session["nas_ip"],
                            "outbox_ids": [queued] if queued else []}, ip)
        return queued
