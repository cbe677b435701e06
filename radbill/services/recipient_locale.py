"""The language for text made outside a request (scheduler alerts, SMS to customers): the operator's default."""

from __future__ import annotations

import asyncpg

from radbill.i18n import DEFAULT_LOCALE, LOCALES

# to_jsonb(o) ->> 'default_locale' reads the column without naming it: the query works before and after the
# migration that adds operators.default_locale (issue 14), so the scheduler never fails over a missing column
OPERATOR_LOCALE = "SELECT to_jsonb(o) ->> 'default_locale' FROM operators o WHERE o.id = $1"


async def operator_locale(conn: asyncpg.Connection, operator_id: int | None) -> str:
    """The operator's default language ('en' or 'bn'); 'en' when it has none or is unknown."""
    if operator_id is None:
        return DEFAULT_LOCALE
    locale = await conn.fetchval(OPERATOR_LOCALE, operator_id)
    return locale if locale in LOCALES else DEFAULT_LOCALE
