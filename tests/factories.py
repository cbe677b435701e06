"""Small row builders for tests: each inserts one row with sensible defaults and returns it."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, date, datetime, timedelta
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


async def tenant_rows(conn, op, customer, account, package_id: int, profile_id: int) -> dict[str, int]:
    """One row of every tenant table owned by `op` (a customer, login, package and profile of its own given);
    returns the ids of the ones admin routes name, by route parameter."""
    o, c = op["id"], customer["id"]
    now = datetime.now(UTC)
    ids = {}

    async def ins(table: str, values: dict):
        return await insert(conn, table, values)

    ids["router_id"] = (await ins("nas", {"nasname": f"10.200.{o // 250}.{o % 250 + 1}", "shortname": f"nas-{o}",
                                          "secret": "s" * 32, "operator_id": o}))["id"]
    ids["zone_id"] = (await ins("zones", {"operator_id": o, "name": f"zone {o}"}))["id"]
    ids["vat_profile_id"] = (await ins("vat_profiles", {"operator_id": o, "name": f"vat {o}",
                                                        "rate_basis_points": 500}))["id"]
    ids["pool_id"] = (await ins("ip_pools", {"operator_id": o, "name": f"pool-{o}", "start_ip": "172.16.0.1",
                                             "end_ip": "172.16.0.10"}))["id"]
    await ins("router_import_grants", {"operator_id": o, "nas_id": ids["router_id"], "account_id": account["id"]})
    ids["gateway_id"] = (await ins("sms_gateways", {"operator_id": o, "name": f"gw {o}", "kind": "log"}))["id"]
    await ins("sms_templates", {"operator_id": o, "event": "bill_generated", "body": "hello"})
    await ins("sms_settings", {"operator_id": o})
    await ins("whatsapp_settings", {"operator_id": o, "phone_number_id": str(9000 + o)})
    await ins("whatsapp_events", {"operator_id": o, "event": "bill_generated"})
    await ins("sms_balance_entries", {"operator_id": o, "kind": "topup", "amount_minor": 100, "balance_after": 100})
    ids["bill_id"] = (await ins("bills", {"customer_id": c, "operator_id": o, "period_start": date(2026, 1, 1),
                        "period_end": date(2026, 2, 1), "currency": "BDT", "amount_minor": 100, "total_minor": 100,
                        "due_at": now}))["id"]
    ids["payment_id"] = (await ins("payments", {"customer_id": c, "operator_id": o, "amount_minor": 100, "currency": "BDT",
                           "method": "cash"}))["id"]
    await ins("package_assignments", {"operator_id": o, "package_id": package_id, "wholesale_price_minor": 1})
    await ins("billing_profile_assignments", {"operator_id": o, "billing_profile_id": profile_id})
    batch = await ins("import_batches", {"operator_id": o, "source": "file", "headers": "[]", "rows": "[]"})
    await ins("import_batch_items", {"batch_id": batch["id"], "line": 1, "status": "failed"})
    ids["broadcast_id"] = (await ins("sms_broadcasts", {"operator_id": o, "body": "hi", "recipients": 1, "segments": 1, "cost_minor": 0}))["id"]
    await ins("sms_messages", {"operator_id": o, "to_number": "+8801700000000", "body": "hi"})
    await ins("admin_sessions", {"id_hash": uuid.uuid4().bytes, "account_id": account["id"], "csrf_token": "x",
                                 "expires_at": now + timedelta(hours=1)})
    await ins("audit_log", {"operator_id": o, "action": "test", "object_kind": "test"})
    await ins("outbox", {"operator_id": o, "kind": "sms", "payload": json.dumps({"n": o})})
    ids["alert_id"] = (await ins("alerts", {"operator_id": o, "kind": "sms_no_balance",
                                            "message": f"balance used up for {o}"}))["id"]
    cash = await ins("ledger_accounts", {"kind": "cash", "operator_id": o, "currency": "BDT"})
    revenue = await ins("ledger_accounts", {"kind": "revenue", "operator_id": o, "currency": "BDT"})
    txn = uuid.uuid4()
    await conn.execute("INSERT INTO ledger_entries (txn_id, account_id, amount_minor, currency, kind)"
                       " VALUES ($1, $2, 100, 'BDT', 'test'), ($1, $3, -100, 'BDT', 'test')",
                       txn, cash["id"], revenue["id"])
    pgw = await ins("payment_gateways", {"operator_id": o, "kind": "bkash", "label": f"bKash {o}",
                                         "base_url": "http://127.0.0.1:9/"})
    intent = await ins("payment_intents", {"reference": f"ref-{o}-{uuid.uuid4().hex}", "operator_id": o,
                                           "customer_id": c, "gateway_id": pgw["id"], "amount_minor": 100,
                                           "currency": "BDT", "expires_at": now + timedelta(hours=1)})
    await ins("payment_events", {"operator_id": o, "gateway_id": pgw["id"], "intent_id": intent["id"],
                                 "source": "start", "outcome": "started"})
    await ins("payment_refunds", {"operator_id": o, "intent_id": intent["id"], "payment_id": ids["payment_id"],
                                  "amount_minor": 1, "reason": "test"})
    await ins("pay_links", {"token": f"tok-{o}-{uuid.uuid4().hex}", "operator_id": o, "customer_id": c,
                            "expires_at": now + timedelta(days=1)})
    wallet = await ins("operator_wallets", {"operator_id": o, "kind": "bkash", "number": f"+88017{o % 100000000:08d}"})
    transfer = await ins("wallet_transfers", {"operator_id": o, "customer_id": c, "wallet_id": wallet["id"],
                                              "sender_number": "+8801700000000", "amount_minor": 100,
                                              "currency": "BDT", "trxid": f"TRX{o:08d}", "origin": "customer"})
    ids["wallet_id"] = wallet["id"]
    ids["transfer_id"] = transfer["id"]
    ticket = await ins("tickets", {"operator_id": o, "customer_id": c, "category": "slow", "subject": "slow"})
    message = await ins("ticket_messages", {"ticket_id": ticket["id"], "operator_id": o, "customer_id": c,
                                            "body": "slow at night"})
    ids["attachment_id"] = (await ins("ticket_attachments", {
        "message_id": message["id"], "operator_id": o, "customer_id": c, "sha256": "0" * 64,
        "content_type": "image/png", "size_bytes": 8}))["id"]
    await ins("portal_sessions", {"id_hash": uuid.uuid4().bytes * 2, "operator_id": o, "customer_id": c,
                                  "csrf_token": "x", "method": "password", "expires_at": now + timedelta(hours=1)})
    await ins("portal_otps", {"operator_id": o, "customer_id": c, "code_hash": uuid.uuid4().bytes * 2,
                              "expires_at": now + timedelta(minutes=5)})
    ids["ticket_id"] = ticket["id"]
    await ins("payment_reversals", {"operator_id": o, "customer_id": c, "payment_id": ids["payment_id"],
                                    "amount_minor": 1, "currency": "BDT", "reason": "test"})
    await ins("cash_closes", {"operator_id": o, "collector_id": account["id"], "day": date(2026, 1, 1),
                              "currency": "BDT", "figures": "{}", "expected_minor": 0, "handed_over_minor": 0})
    await ins("package_cap_tiers", {"package_id": package_id, "operator_id": o, "after_bytes": 10**12 + o,
                                    "download_kbps": 1000, "upload_kbps": 500})
    pack = await ins("data_topup_packs", {"operator_id": o, "name": f"pack {o}", "bytes": 10**9, "price_minor": 100})
    await ins("data_topups", {"operator_id": o, "customer_id": c, "pack_id": pack["id"], "name": "pack",
                              "bytes": 10**9, "price_minor": 100, "currency": "BDT", "window_start": now,
                              "window_end": now + timedelta(days=1)})
    ids["pack_id"] = pack["id"]
    ids["api_client_id"] = (await ins("api_clients", {
        "operator_id": o, "scope_operator_id": o, "name": f"api {o}", "permissions": ["customers.view"],
        "token_prefix": f"{o:010d}", "token_hash": uuid.uuid4().bytes * 2}))["id"]
    await ins("api_idempotency", {"client_id": ids["api_client_id"], "operator_id": o, "key": f"key-{o}",
                                  "fingerprint": bytes(32), "status": 201, "body": "{}"})

    hook = await ins("webhook_endpoints", {"operator_id": o, "url": f"https://hooks.example/{o}",
                                           "events": ["customer.created"], "secret_sealed": "unused"})
    delivery = await ins("webhook_deliveries", {"endpoint_id": hook["id"], "operator_id": o, "event_id": f"msg_{o}",
                                                "event_type": "customer.created", "payload": "{}"})
    await ins("webhook_attempts", {"delivery_id": delivery["id"], "operator_id": o, "status_code": 500,
                                   "duration_ms": 5})
    ids["webhook_id"], ids["delivery_id"] = hook["id"], delivery["id"]
    ids["batch_id"] = batch["id"]
    ids["account_id"] = account["id"]
    ids["payment_gateway_id"] = pgw["id"]
    ids["intent_id"] = intent["id"]
    await conn.execute("SELECT radbill_count_online()")  # dashboard_online: a row per operator (0049)
    return ids
