"""Read-only operator lists for the caller's subtree: the RADIUS log, the audit log."""

from __future__ import annotations

import asyncpg

from radbill.tenancy import Scope


async def radius_log(conn: asyncpg.Connection, scope: Scope, limit: int = 200) -> list[asyncpg.Record]:
    """The newest radpostauth rows of the subtree's customers."""
    return await conn.fetch(
        "SELECT r.authdate, r.username, r.reply, r.reason, host(r.nasipaddress) AS nas, r.callingstationid"
        "  FROM radpostauth r JOIN customers c ON c.username = r.username JOIN operators o ON o.id = c.operator_id"
        " WHERE o.path <@ $1::ltree ORDER BY r.authdate DESC LIMIT $2", scope.path, limit)


async def audit_entries(conn: asyncpg.Connection, scope: Scope, limit: int = 200) -> list[asyncpg.Record]:
    """Who did what, when and from where in the subtree; entries tied to no operator (e.g. a failed login for
    an unknown username) only for the group admin."""
    return await conn.fetch(
        "SELECT l.at, l.action, l.object_kind, l.object_id, l.detail, host(l.ip) AS ip, a.username AS actor,"
        "       o.name AS operator_name"
        "  FROM audit_log l LEFT JOIN operators o ON o.id = l.operator_id LEFT JOIN accounts a ON a.id = l.account_id"
        " WHERE o.path <@ $1::ltree OR (l.operator_id IS NULL AND $2)"
        " ORDER BY l.id DESC LIMIT $3", scope.path, scope.role == "group_admin", limit)
