"""The audit trail: every change made through radbill, with who, what, when (UTC) and from where."""

from __future__ import annotations

import json

import asyncpg

from radbill.tenancy import Scope


async def record(conn: asyncpg.Connection, scope: Scope | None, action: str, object_kind: str,
                 object_id: int | None = None, detail: dict | None = None, ip: str | None = None,
                 operator_id: int | None = None) -> None:
    """Append one audit row inside the caller's transaction (so it commits or rolls back with the change)."""
    await conn.execute(
        "INSERT INTO audit_log (account_id, operator_id, action, object_kind, object_id, detail, ip, api_client_id)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::inet, $8)",
        scope.account_id if scope else None,
        operator_id if operator_id is not None else (scope.operator_id if scope else None),
        action, object_kind, object_id, _json(detail), ip,
        getattr(scope, "api_client_id", None),  # a CustomerScope has none
    )


async def record_many(conn: asyncpg.Connection, scope: Scope | None, action: str, object_kind: str,
                      entries: list[tuple[int, dict, int | None]], ip: str | None = None) -> None:
    """`record` for many objects at once: one INSERT of (object id, detail, operator id) rows, in order."""
    if not entries:
        return
    default_operator = scope.operator_id if scope else None
    await conn.execute(
        "INSERT INTO audit_log (account_id, operator_id, action, object_kind, object_id, detail, ip, api_client_id)"
        " SELECT $1, coalesce(e.operator_id, $2), $3, $4, e.object_id, e.detail::jsonb, $8::inet, $9"
        "   FROM unnest($5::bigint[], $6::text[], $7::bigint[]) WITH ORDINALITY e(object_id, detail, operator_id, n)"
        "  ORDER BY e.n",
        scope.account_id if scope else None, default_operator, action, object_kind,
        [e[0] for e in entries], [_json(e[1]) for e in entries], [e[2] for e in entries], ip,
        getattr(scope, "api_client_id", None))


def _json(detail: dict | None) -> str:
    return json.dumps(detail or {}, default=str)


def changes(old: dict, new: dict) -> dict:
    """{'field': [old, new]} for the fields whose value differs (for 'edit' audit rows)."""
    return {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}
