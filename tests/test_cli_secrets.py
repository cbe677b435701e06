"""`radbill migrate` seals plain stored secrets; `radbill rotate-secrets` re-seals them under the first key and
refuses, changing nothing, when a value's key is missing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from radbill import secretbox
from radbill.services import sealed
from tests import factories as f
from tests.support.db import app_url

ROOT = Path(__file__).resolve().parent.parent


def radbill(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radbill.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


async def _query(url: str, sql: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _plain_gateway(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        op = await f.operator(conn, "group_admin")
        row = await f.insert(conn, "sms_gateways", {"operator_id": op["id"], "name": "old", "kind": "http",
                                                    "secret": "plain-api-key-123"})
        return row["id"]
    finally:
        await conn.close()


def test_migrate_seals_plain_secrets_and_rotation_moves_them_to_the_new_key(fresh_db_url, tmp_path):
    gateway_id = asyncio.run(_plain_gateway(fresh_db_url))
    old, new = secretbox.new_key_entry("old"), secretbox.new_key_entry("new")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADBILL_") and "DATABASE_URL" not in k}
    env.update(RADBILL_VAR_DIR=str(tmp_path), DATABASE_URL=app_url(fresh_db_url), MIGRATE_DATABASE_URL=fresh_db_url,
               RADBILL_SECRET_KEY="s" * 64, RADBILL_DATA_KEYS=old)
    migrated = radbill(env, "migrate")
    assert migrated.returncode == 0 and "sealed 1 stored secret" in migrated.stdout, migrated.stderr
    stored = asyncio.run(_query(fresh_db_url, "SELECT secret FROM sms_gateways WHERE id = $1", gateway_id))
    assert stored.startswith("sb1:old:") and "plain-api-key" not in stored

    refused = radbill({**env, "RADBILL_DATA_KEYS": new}, "rotate-secrets")  # the old key dropped too early
    assert refused.returncode == 2 and "no longer configured" in refused.stderr and "nothing was changed" in refused.stderr
    assert asyncio.run(_query(fresh_db_url, "SELECT secret FROM sms_gateways WHERE id = $1", gateway_id)) == stored

    rotated = radbill({**env, "RADBILL_DATA_KEYS": f"{new},{old}"}, "rotate-secrets")
    assert rotated.returncode == 0 and "re-sealed 1 secret" in rotated.stdout, rotated.stderr
    resealed = asyncio.run(_query(fresh_db_url, "SELECT secret FROM sms_gateways WHERE id = $1", gateway_id))
    assert resealed.startswith("sb1:new:")
    assert secretbox.open_sealed(resealed, sealed.context(sealed.SMS_SECRET, gateway_id), spec=new) == \
        "plain-api-key-123"
