"""The session id Postgres computes for rlm_sql (migration 0067): md5 of the text the router sent, after undoing
rlm_sql's escaping (every byte outside its safe characters as =XX, '=' included; multi-byte UTF-8 as is)."""

from __future__ import annotations

import hashlib

import pytest

SAFE = set(b"@abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_: /")


def rlm_sql_escape(text: str) -> str:
    """What rlm_sql 3.2.1 hands the query: measured in tests/radius/test_accounting.py (a quote is stored as =27)."""
    out = []
    for ch in text:
        raw = ch.encode()
        out.append(ch if len(raw) > 1 or raw[0] in SAFE else "".join(f"={b:02X}" for b in raw))
    return "".join(out)


@pytest.mark.parametrize("text", [
    "bench000001,81b00003,10.0.0.1,,,7",  # a plain session: hashed as is
    "user,a'b\\c=d,é,127.0.0.1,core-1 <bras>,<pppoe-রহিম=1>,1",
    "=,==,=3D,=zz,trailing=",  # '=' itself, and text that looks escaped
    "",
])
async def test_the_id_is_the_md5_of_the_text_before_escaping(db, text):
    escaped = rlm_sql_escape(text)
    assert await db.fetchval("SELECT radbill_acct_unique_id($1)", escaped) == hashlib.md5(text.encode()).hexdigest()
    assert await db.fetchval("SELECT radbill_sql_unescape($1)", escaped) == text.encode()
