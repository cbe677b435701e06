"""Cursor pagination: `limit` (1..200) and an opaque `cursor` naming the last row's sort key."""

from __future__ import annotations

import base64
import json

from admin.api.problems import invalid
from admin.api.registry import Param
from radbill.i18n import _

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
LIMIT = Param("limit", "integer", "How many items to return (1 to 200).", minimum=1, maximum=MAX_LIMIT,
              default=DEFAULT_LIMIT)
CURSOR = Param("cursor", "string", "The `next_cursor` of the previous page; omit it for the first page.")
PARAMS = (LIMIT, CURSOR)


def encode(key: list) -> str:
    """The cursor for a page ending at sort key `key` (a short list of ints/strings)."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str | None, arity: int) -> list | None:
    """The sort key a cursor carries (None for the first page); a 400 naming `cursor` for anything forged."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        key = None
    if not (isinstance(key, list) and len(key) == arity
            and all(isinstance(k, int) and not isinstance(k, bool) and abs(k) < 2**63 for k in key)):
        raise invalid("cursor", _("The cursor is not one this API gave out. Start again without it."))
    return key


def page_schema(item: dict) -> dict:
    return {"type": "object", "required": ["items", "next_cursor"], "additionalProperties": False,
            "properties": {"items": {"type": "array", "items": item},
                           "next_cursor": {"type": ["string", "null"],
                                           "description": "Pass as `cursor` for the next page; null on the last."}}}


def page(items: list, next_key: list | None) -> dict:
    return {"items": items, "next_cursor": encode(next_key) if next_key is not None else None}
