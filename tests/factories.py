"""Small row builders for tests: each inserts one row with sensible defaults and returns it."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

_seq = itertools.count(1)


async def insert(conn, table: str, values: dict):
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    return await conn.fetchrow(f"INSERT INTO {table} ({columns}) VALUES ({params}) RETURNING *", *values.values())


async def operator(conn, kind="group_admin", parent_id=None, **values):
    return await insert(conn, "operators", {"kind": kind, "parent_id": parent_id,
                                            "name": f"{kind} {next(_seq)}", **values})


async def package(conn, operator_id, **values):
    n = next(_seq)
    return await insert(conn, "packages", {"operator_id": operator_id, "name": f"Home {n}", "download_kbps": 10240,
                                           "upload_kbps": 5120, "price_minor": 50000, **values})


async def billing_profile(conn, operator_id, **values):
    defaults = {"operator_id": operator_id, "name": f"Monthly {next(_seq)}", "cycle_kind": "fixed_day",
                "billing_day": 1, "billing_type": "prepaid"}
    return await insert(conn, "billing_profiles", {**defaults, **values})


async def customer(conn, operator_id, package_id, billing_profile_id, **values):
    n = next(_seq)
    defaults = {"operator_id": operator_id, "username": f"user{n}", "radius_password": f"pw{n}",
                "name": f"Customer {n}", "connection_type": "pppoe", "package_id": package_id,
                "billing_profile_id": billing_profile_id}
    return await insert(conn, "customers", {**defaults, **values})


async def isp(conn):
    """A group admin, an operator, a sub-operator, a package and a billing profile."""
    root = await operator(conn, "group_admin")
    op = await operator(conn, "operator", root["id"])
    sub = await operator(conn, "sub_operator", op["id"])
    pkg = await package(conn, op["id"])
    profile = await billing_profile(conn, op["id"])
    return SimpleNamespace(root=root, operator=op, sub=sub, package=pkg, profile=profile)
