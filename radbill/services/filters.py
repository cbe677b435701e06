"""SQL WHERE clauses for scoped lists, built from fixed fragments and numbered parameters."""

from __future__ import annotations

from radbill import validate
from radbill.tenancy import Scope


class ScopedWhere:
    """Numbered parameters and fixed SQL fragments; typed text only ever travels as a parameter (so queries
    that carry `where.sql` are safe to format, and are marked noqa: S608 where ruff cannot tell)."""

    def __init__(self, scope: Scope, column: str):
        self.args: list = [scope.path]
        self.conditions = [f"{column} <@ $1::ltree"]

    def arg(self, value) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, fragment: str) -> None:
        self.conditions.append(fragment)

    def customer(self, text: str) -> None:
        """Customer ID, exact mobile, or a piece of name / username / mobile."""
        text = (text or "").strip()
        if not text:
            return
        alternatives = []
        if text.isascii() and text.isdecimal() and len(text) <= 9:
            alternatives.append(f"c.id = {self.arg(int(text))}")
        try:
            alternatives.append(f"c.mobile = {self.arg(validate.mobile(text))}")
        except ValueError:
            pass
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        alternatives.append(f"(c.name || ' ' || c.username || ' ' || coalesce(c.mobile, '')) ILIKE {self.arg(pattern)}")
        self.add("(" + " OR ".join(alternatives) + ")")

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions)
