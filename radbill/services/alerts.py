"""Alerts that help: identical alerts collapse into one group (count, first and last time), a group says what to
do and who can do it, and it can be acknowledged until it happens again.

Every occurrence stays an audit_log row with action 'alert' (the customer's timeline keeps it); the `alerts`
table (sql/migrations/0025) holds one row per (operator, kind, cause). `can_act` is the one rule of who may see
and acknowledge an alert of a kind: the listing, the dashboard and the acknowledge action all ask it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import asyncpg

from radbill.errors import NotFound
from radbill.i18n import LazyString, lazy_gettext
from radbill.services import audit
from radbill.services.filters import subtree_operator_ids
from radbill.tenancy import Scope

ALL_ROLES = frozenset({"group_admin", "operator", "sub_operator", "manager"})
OPERATORS = frozenset({"group_admin", "operator", "manager"})  # a manager also needs the permission


@dataclass(frozen=True)
class AlertKind:
    """Who can act on alerts of a kind (the same roles and permission as the page that fixes it: `fix_route`,
    a path of the admin's route registry, checked by tests/admin/test_alerts.py), its title and what to do."""

    roles: frozenset[str]
    permission: str | None
    fix_route: str
    title: LazyString
    todo: LazyString


KINDS: dict[str, AlertKind] = {
    "sms_no_gateway": AlertKind(
        OPERATORS, "sms.send", "/sms/gateways", lazy_gettext("SMS not sent: no SMS gateway is set up"),
        lazy_gettext("Add an SMS gateway under SMS → Gateways. Messages that failed are not sent again: send the "
                     "ones that still matter once the gateway works.")),
    "sms_failed": AlertKind(
        OPERATORS, "sms.send", "/sms/gateways", lazy_gettext("SMS not sent: the provider did not take it"),
        lazy_gettext("Check the gateway's address and credentials under SMS → Gateways, and the provider's own "
                     "status. The failed messages were refunded to the SMS balance.")),
    "sms_no_balance": AlertKind(
        ALL_ROLES, "sms.send", "/sms/balance", lazy_gettext("SMS not sent: the SMS balance is used up"),
        lazy_gettext("Top up the SMS balance (a reseller asks its parent operator for a top-up), then send the "
                     "messages that still matter again.")),
    "sms_refused": AlertKind(
        ALL_ROLES, "customers.edit", "/customers/{customer_id:\\d+}/edit",
        lazy_gettext("SMS refused by the provider"),
        lazy_gettext("Check the customer's mobile number and correct it on the customer's Edit page.")),
    "router_unreachable": AlertKind(
        OPERATORS, "routers.manage", "/routers", lazy_gettext("Router %(nas_ip)s does not answer"),
        lazy_gettext("Check that the router is up and that its CoA port and shared secret under Routers (NAS) "
                     "match the router's settings. Until then, end the session on the router by hand.")),
    "router_refused": AlertKind(
        OPERATORS, "routers.manage", "/routers", lazy_gettext("Router %(nas_ip)s refused a request"),
        lazy_gettext("Check that the router accepts RADIUS Disconnect and CoA requests from radbill and that its "
                     "shared secret under Routers (NAS) is right. Until then, end the session on the router by "
                     "hand.")),
    "backup_stale": AlertKind(
        frozenset({"group_admin"}), None, "/system", lazy_gettext("No recent backup"),
        lazy_gettext("The newest backup is more than 26 hours old. Open System and backups to see why the last one "
                     "failed (the error is listed), fix it (free space, the backup directory), then run "
                     "`radbill backup` once to check.")),
    "radius_node_down": AlertKind(
        frozenset({"group_admin"}), None, "/system", lazy_gettext("RADIUS node %(node)s does not answer routers"),
        lazy_gettext("Routers ask their other RADIUS server meanwhile, if they have one. Read the node's FreeRADIUS "
                     "log (System lists what is wrong), restart `radbill radius` on that node, and check that "
                     "it answers again.")),
    "webhook_failing": AlertKind(
        frozenset({"group_admin", "operator"}), None, "/webhooks", lazy_gettext("A webhook endpoint does not accept deliveries"),
        lazy_gettext("Open Webhooks, read the failed attempts in the endpoint's deliveries log, fix the receiving "
                     "server, then enable the endpoint again and redeliver what it missed.")),
    "delivery_failed": AlertKind(
        OPERATORS, "audit.view", "/logs", lazy_gettext("A background job gave up"),
        lazy_gettext("Read the error in the message and under Logs, fix the destination, then repeat the action.")),
}


def can_act(scope: Scope, kind: str) -> bool:
    """Whether the scope's login can do something about alerts of `kind` (so it sees and acknowledges them)."""
    rule = KINDS.get(kind)
    return rule is not None and scope.role in rule.roles and (rule.permission is None or scope.can(rule.permission))


def actionable_kinds(scope: Scope) -> list[str]:
    return [kind for kind in KINDS if can_act(scope, kind)]


def classify(job: str, status: str, hint: str | None, error: str | None, payload: dict) -> tuple[str, str]:
    """(kind, cause) of a failed outbox job: occurrences with the same pair are the same alert."""
    if hint in KINDS:  # the handler knows better (no gateway, no balance): one group per operator
        return hint, ""
    if job in ("disconnect", "coa"):
        return ("router_unreachable" if status == "timeout" else "router_refused"), str(payload.get("nas_ip") or "")
    if job == "sms":
        return ("sms_refused" if status == "nak" else "sms_failed"), (error or status)[:200]
    return "delivery_failed", f"{job}: {error or status}"[:200]


UPSERT = """
    INSERT INTO alerts (operator_id, kind, cause, message, subject) VALUES ($1, $2, $3, $4, $5::jsonb)
    ON CONFLICT (operator_id, kind, cause) DO UPDATE SET
           message = excluded.message, subject = excluded.subject, last_at = excluded.last_at,
           occurrences = CASE WHEN alerts.acknowledged_at IS NULL THEN alerts.occurrences + 1 ELSE 1 END,
           first_at = CASE WHEN alerts.acknowledged_at IS NULL THEN alerts.first_at ELSE excluded.first_at END,
           acknowledged_at = NULL, acknowledged_by = NULL
    RETURNING id
"""


async def raise_installation_alert(conn: asyncpg.Connection, kind: str, cause: str, message: str,
                                   subject: dict) -> int | None:
    """raise_alert for what belongs to the installation, not to a tenant (backups, RADIUS nodes): shown to the
    group admin (the first one, should a database hold several trees), timeline object 'system'."""
    group_admin = await conn.fetchval("SELECT id FROM operators WHERE kind = 'group_admin' ORDER BY id LIMIT 1")
    return await raise_alert(conn, group_admin, kind, cause, message, subject, "system", None)


async def raise_alert(conn: asyncpg.Connection, operator_id: int | None, kind: str, cause: str, message: str,
                      subject: dict, object_kind: str, object_id: int | None,
                      audit_operator_id: int | None = None) -> int | None:
    """Count one occurrence in its group (reopening an acknowledged one) and append its audit row (the timeline
    of `object_kind`/`object_id`), inside the caller's transaction. Returns the group's id (None when there is
    no operator at all to show it to: then only the audit row keeps it)."""
    alert_id = None
    if operator_id is not None:
        alert_id = await conn.fetchval(UPSERT, operator_id, kind, cause[:200], message,
                                       json.dumps(subject, default=str))
    await audit.record(conn, None, "alert", object_kind, object_id,
                       {"alert": kind, "alert_id": alert_id, "message": message, **subject},
                       operator_id=audit_operator_id if audit_operator_id is not None else operator_id)
    return alert_id


async def router_owner(conn: asyncpg.Connection, nas_ip: str | None) -> int | None:
    """The operator who manages the router at `nas_ip` (the one who can fix it), if it is in the routers list."""
    if not nas_ip:
        return None
    return await conn.fetchval("SELECT operator_id FROM nas WHERE nasname::inet = $1::inet", nas_ip)


# the acknowledger's login is read under the caller's row-level security: one above the caller shows as NULL
LIST = """
    SELECT a.*, o.name AS operator_name, ack.username AS acknowledged_by_name
      FROM alerts a JOIN operators o ON o.id = a.operator_id LEFT JOIN accounts ack ON ack.id = a.acknowledged_by
     WHERE a.operator_id = ANY ($1::bigint[]) AND a.kind = ANY ($2::text[]) AND a.acknowledged_at IS {state}
     ORDER BY a.last_at DESC, a.id DESC LIMIT $3 OFFSET $4
"""


async def list_alerts(conn: asyncpg.Connection, scope: Scope, acknowledged: bool = False, page: int = 1,
                      per_page: int = 25) -> tuple[list[dict], bool]:
    """One page of the alert groups the scope can act on, latest first; (rows, whether a next page exists)."""
    ids = await subtree_operator_ids(conn, scope)
    query = LIST.format(state="NOT NULL" if acknowledged else "NULL")  # a fixed fragment (the open index)
    rows = await conn.fetch(query, ids, actionable_kinds(scope), per_page + 1, (max(page, 1) - 1) * per_page)
    return [shown(r) for r in rows[:per_page]], len(rows) > per_page


async def count_open(conn: asyncpg.Connection, scope: Scope) -> int:
    ids = await subtree_operator_ids(conn, scope)
    return await conn.fetchval("SELECT count(*) FROM alerts WHERE operator_id = ANY ($1::bigint[])"
                               " AND kind = ANY ($2::text[]) AND acknowledged_at IS NULL", ids, actionable_kinds(scope))


def shown(row: asyncpg.Record) -> dict:
    """An alert group as the pages show it: with its title, what to do and the link to the page that fixes it."""
    alert = dict(row)
    subject = json.loads(alert["subject"]) if isinstance(alert["subject"], str) else dict(alert["subject"] or {})
    rule = KINDS[alert["kind"]]
    alert.update(subject=subject, title=str(rule.title) % {"nas_ip": subject.get("nas_ip") or alert["cause"],
                                                          "node": alert["cause"]},
                 todo=str(rule.todo), fix_url=_fix_url(rule.fix_route, subject))
    return alert


def _fix_url(route: str, subject: dict) -> str | None:
    """The fixing page's address: the route's {name:regex} parts filled from the alert's subject."""
    missing = False

    def fill(match: re.Match) -> str:
        nonlocal missing
        value = subject.get(match.group(1))
        missing = missing or value is None
        return str(value)

    url = re.sub(r"\{(\w+)(?::[^{}]*)?\}", fill, route)
    return None if missing else url


async def acknowledge(conn: asyncpg.Connection, scope: Scope, alert_id: int, ip: str | None = None) -> dict:
    """Acknowledge an open alert group (who and when, in the audit log); NotFound when it is not in the scope's
    subtree or not the scope's to act on (can_act), like a missing one. Acknowledging twice changes nothing."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT a.* FROM alerts a JOIN operators o ON o.id = a.operator_id"
            " WHERE a.id = $1 AND o.path <@ $2::ltree FOR UPDATE OF a", alert_id, scope.path)
        if row is None or not can_act(scope, row["kind"]):
            raise NotFound(f"Alert {alert_id} was not found.")
        if row["acknowledged_at"] is None:
            row = await conn.fetchrow("UPDATE alerts SET acknowledged_at = now(), acknowledged_by = $2 WHERE id = $1"
                                      " RETURNING *", alert_id, scope.account_id)
            await audit.record(conn, scope, "alert.acknowledge", "alert", alert_id,
                               {"kind": row["kind"], "message": row["message"], "occurrences": row["occurrences"]},
                               ip, operator_id=row["operator_id"])
        return shown(row)
