"""An operator row as the Scope of its own login (the shape the services take)."""

from __future__ import annotations

from radbill.tenancy import Scope


def scope_of(operator, account_id=None) -> Scope:
    return Scope(account_id=account_id, operator_id=operator["id"], path=operator["path"], role=operator["kind"])
