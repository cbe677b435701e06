"""`radbill demo`: seed an empty database with a demo ISP and return its generated credentials."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from radbill import clock
from radbill.errors import RadbillError
from radbill.passwords import generate, generate_nas_secret, hash_password
from radbill.services.demo_payments import sealing_available, seed_demo_payments
from radbill.services.demo_whatsapp import seed_demo_whatsapp

DEMO_CUSTOMERS = [
    # username, state, extra columns
    ("demo-active", "active", {}),
    ("demo-suspended", "suspended", {"status": "suspended", "status_reason": "unpaid bill (demo)"}),
    ("demo-expired", "expired", {}),
    ("demo-disabled", "disabled", {"status": "disabled", "status_reason": "closed account (demo)"}),
    ("demo-static", "static_ip", {"connection_type": "static", "static_ip": "10.64.0.10"}),
]


async def _insert(conn: asyncpg.Connection, table: str, values: dict) -> asyncpg.Record:
    # identifiers come from this module's literals only; values are bound
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    return await conn.fetchrow(f"INSERT INTO {table} ({columns}) VALUES ({params}) RETURNING *",  # noqa: S608
                               *values.values())


async def seed_demo(conn: asyncpg.Connection, timezone: str = "Asia/Dhaka", currency: str = "BDT", *,
                    bkash_url: str | None = None, portal_url: str | None = None,
                    sslcommerz_url: str | None = None, whatsapp_url: str | None = None) -> dict:
    """Create the demo ISP in one transaction; refuses a database that already has operators. With `bkash_url`
    (the local fake bKash) and `portal_url`, also a bKash gateway, an unpaid bill and a pay link for it; with
    `whatsapp_url` (the local fake Cloud API), a WhatsApp sender for the ISP."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE operators IN EXCLUSIVE MODE")
        if await conn.fetchval("SELECT exists(SELECT 1 FROM operators)"):
            raise RadbillError("the database already has operators; the demo only seeds an empty database")
        now = clock.now()
        common = {"timezone": timezone, "currency": currency}
        root = await _insert(conn, "operators", {"kind": "group_admin", "name": "Demo Group", **common})
        isp = await _insert(conn, "operators", {"kind": "operator", "parent_id": root["id"], "name": "Demo ISP",
                                                "business_name": "Demo ISP Ltd.", **common})
        reseller = await _insert(conn, "operators", {"kind": "sub_operator", "parent_id": isp["id"],
                                                     "name": "Demo Reseller", "credit_limit_minor": 500000,
                                                     **common})
        logins = []
        for op, role, username in ((root, "group_admin", "demo-admin"), (isp, "operator", "demo-operator"),
                                   (reseller, "sub_operator", "demo-reseller")):
            password = generate(16)
            await _insert(conn, "accounts", {"operator_id": op["id"], "role": role, "username": username,
                                             "password_hash": hash_password(password), "full_name": op["name"]})
            logins.append({"username": username, "password": password, "role": role})

        home = await _insert(conn, "packages", {"operator_id": isp["id"], "name": "Home 10M", "download_kbps": 10000,
                                                "upload_kbps": 5000, "price_minor": 50000, "ip_pool": "home-pool"})
        await _insert(conn, "packages", {"operator_id": isp["id"], "name": "Pro 20M", "download_kbps": 20000,
                                         "upload_kbps": 10000, "price_minor": 100000, "ip_pool": "pro-pool",
                                         "data_cap_bytes": 200 * 10**9, "throttled_download_kbps": 2000,
                                         "throttled_upload_kbps": 1000})
        await _insert(conn, "package_assignments", {"operator_id": reseller["id"], "package_id": home["id"],
                                                    "wholesale_price_minor": 35000})
        profile = await _insert(conn, "billing_profiles", {"operator_id": isp["id"], "name": "Monthly on the 1st",
                                                           "cycle_kind": "fixed_day", "billing_day": 1, "due_days": 7,
                                                           "grace_days": 3, "billing_type": "prepaid"})
        await _insert(conn, "billing_profile_assignments", {"operator_id": reseller["id"],
                                                            "billing_profile_id": profile["id"]})
        zone = await _insert(conn, "zones", {"operator_id": isp["id"], "name": "Demo Zone"})

        nas_secret = generate_nas_secret()
        await _insert(conn, "nas", {"nasname": "127.0.0.1", "shortname": "local", "type": "mikrotik",
                                    "secret": nas_secret, "operator_id": isp["id"],
                                    "description": "loopback, for radtest and the demo"})

        customers = []
        payments = None
        for username, state, extra in DEMO_CUSTOMERS:
            password = generate(12)
            expires = now - timedelta(days=2) if state == "expired" else now + timedelta(days=30)
            values = {"operator_id": reseller["id"], "username": username, "radius_password": password,
                      "name": f"Demo customer ({state.replace('_', ' ')})", "mobile": "+8801700000000",
                      "zone_id": zone["id"], "connection_type": "pppoe", "package_id": home["id"],
                      "billing_profile_id": profile["id"], "expires_at": expires, "simultaneous_use": 1, **extra}
            if state == "suspended" and bkash_url and portal_url and sealing_available():  # billed while active, then suspended
                row = await _insert(conn, "customers", {**values, "status": "active"})
                payments = await seed_demo_payments(conn, isp["id"], root, row["id"], bkash_url, portal_url,
                                                    sslcommerz_url)
                await conn.execute("UPDATE customers SET status = 'suspended' WHERE id = $1", row["id"])
            else:
                await _insert(conn, "customers", values)
            customers.append({"username": username, "password": password, "state": state})
        whatsapp = await seed_demo_whatsapp(conn, isp["id"], whatsapp_url) \
            if whatsapp_url and sealing_available() else None
    demo = {"logins": logins, "customers": customers, "nas": {"ip": "127.0.0.1", "secret": nas_secret}}
    if whatsapp:
        demo["whatsapp"] = whatsapp
    if payments:
        demo["payments"] = payments
    if portal_url:
        demo["portal"] = {"url": portal_url}  # customers log in there with the usernames and passwords above
    return demo
