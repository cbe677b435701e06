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
        action, object_kind, object_id, json.dumps(detail or {}, default=str), ip,
        getattr(scope, "api_client_id", None),  # a CustomerScope has none
    )


def changes(old: dict, new: dict) -> dict:
    """{'field': [old, new]} for the fields whose value differs (for 'edit' audit rows)."""
    return {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}
