"""Scope: who is asking and which operator subtree they may see; built once per request or job."""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("group_admin", "operator", "sub_operator", "manager")


@dataclass(frozen=True)
class Scope:
    """The caller's identity and subtree; tenant queries filter with `path <@ scope.path`."""

    account_id: int | None
    operator_id: int
    path: str
    role: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    # an API client (admin/api) acting with its own permission subset, whatever its scope operator's role
    api_client_id: int | None = None

    def __post_init__(self):
        if self.role not in ROLES and self.role != "system":
            raise ValueError(f"unknown role {self.role!r}")

    @classmethod
    def system(cls, operator_id: int, path: str) -> Scope:
        """A scope for scheduler jobs and the CLI acting on one subtree as the system."""
        return cls(account_id=None, operator_id=operator_id, path=path, role="system")

    def can(self, permission: str) -> bool:
        """Managers and API clients hold an explicit subset; every other role holds what its routes allow."""
        if self.role == "manager" or self.api_client_id is not None:
            return permission in self.permissions
        return True


@dataclass(frozen=True)
class CustomerScope:
    """A customer in the portal: their own rows and nothing else (never a staff scope). `path` is their
    operator's, for row-level security's staff policies; `customer_id` narrows them (sql/migrations/0030)."""

    customer_id: int
    operator_id: int
    path: str
    account_id: None = None  # no staff account acts: audit rows a customer's action writes name none
