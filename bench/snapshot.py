"""How long the RADIUS worker takes to load the policy snapshot (all customers) and to refresh every capped customer
at a data-cap boundary, with months of closed sessions in radacct. The baseline is the view as it was before cap
windows (migration 0002's usage rule), created next to the current one in the same database and timed in the
same run, rounds interleaved.

    .venv/bin/python -m bench.snapshot --customers 10000 --sessions 60 --rounds 5

At size (bench/snapshot_scale.py: load time, memory per subscriber, reload after a reconnect, visibility under
1,000 policy changes/s), seeded set-based, no radacct history:

    .venv/bin/python -m bench.snapshot --subscribers 1000000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

import psycopg

from bench.db import throwaway_database
from radius_module.worker import SET_POLICY_NOW, WINDOW_BATCH

# migration 0002's view as it was (same columns): closed sessions that started since the paid validity or the
# month's start
BASELINE_VIEW = """
CREATE VIEW radius_policy_before AS
SELECT c.username,
       c.id AS customer_id,
       c.operator_id,
       c.radius_password AS password,
       c.status,
       c.expires_at,
       c.mac_address::text AS mac_address,
       host(c.static_ip) AS static_ip,
       c.simultaneous_use,
       p.download_kbps, p.upload_kbps,
       p.burst_download_kbps, p.burst_upload_kbps,
       p.burst_threshold_download_kbps, p.burst_threshold_upload_kbps, p.burst_time_seconds,
       p.ip_pool,
       p.data_cap_bytes, p.throttled_download_kbps, p.throttled_upload_kbps,
       coalesce(u.bytes, 0)::bigint AS usage_bytes,
       g.suspended_pool, g.suspended_rate_limit, g.suspended_session_timeout
  FROM customers c
  JOIN packages p ON p.id = c.package_id
  JOIN operators o ON o.id = c.operator_id
  LEFT JOIN LATERAL (
        SELECT a.suspended_pool, a.suspended_rate_limit, a.suspended_session_timeout
          FROM operators a
         WHERE a.path @> o.path AND a.suspended_pool IS NOT NULL
         ORDER BY nlevel(a.path) DESC
         LIMIT 1) g ON true
  LEFT JOIN LATERAL (
        SELECT sum(coalesce(r.acctinputoctets, 0) + coalesce(r.acctoutputoctets, 0)) AS bytes
          FROM radacct r
         WHERE p.data_cap_bytes IS NOT NULL
           AND r.username = c.username
           AND r.acctstoptime IS NOT NULL
           AND r.acctstarttime >= coalesce(c.expires_at - make_interval(days => p.validity_days),
                                           date_trunc('month', now() AT TIME ZONE o.timezone) AT TIME ZONE o.timezone)
        ) u ON true;
"""

SEED = """
WITH root AS (INSERT INTO operators (kind, name) VALUES ('group_admin', 'Bench ISP') RETURNING id),
pkg AS (INSERT INTO packages (operator_id, name, download_kbps, upload_kbps, price_minor, data_cap_bytes,
                              throttled_download_kbps, throttled_upload_kbps, cap_period)
        SELECT id, 'Capped ' || k, 10240, 5120, 50000, 100000000000, 1024, 512, k
          FROM root, unnest(ARRAY['calendar_month', 'billing_cycle']) k RETURNING id, operator_id, cap_period),
bp AS (INSERT INTO billing_profiles (operator_id, name, cycle_kind, billing_day, billing_type)
       SELECT id, 'Monthly', 'fixed_day', 10, 'prepaid' FROM root RETURNING id)
INSERT INTO customers (operator_id, username, radius_password, name, connection_type, package_id, billing_profile_id)
SELECT pkg.operator_id, 'user' || lpad(i::text, 6, '0'), 'pw', 'Customer ' || i, 'pppoe', pkg.id, bp.id
  FROM generate_series(1, %(customers)s) i
  JOIN pkg ON pkg.cap_period = CASE WHEN i %% 2 = 0 THEN 'calendar_month' ELSE 'billing_cycle' END, bp
"""

# `sessions` closed sessions per customer spread over the last 180 days, 1-3 hours each
SESSIONS = """
INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime,
                     acctinputoctets, acctoutputoctets)
SELECT 's' || c.id || '-' || k, 'u' || c.id || '-' || k, c.username, '10.0.0.1', t.start,
       t.start + make_interval(hours => 1 + k %% 3), 1000000 * k, 5000000 * k
  FROM customers c CROSS JOIN generate_series(1, %(sessions)s) k
 CROSS JOIN LATERAL (SELECT now() - make_interval(days => 180) * k / %(sessions)s AS start) t
"""


def view_before_tiers() -> str:
    """Migration 0013's view (cap windows, before fair-usage tiers and top-ups), as radius_policy_0013."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "sql/migrations/0013_cap_windows.sql").read_text()
    view = text[text.index("CREATE OR REPLACE VIEW radius_policy AS"):text.index("-- The window depends")]
    return view.replace("CREATE OR REPLACE VIEW radius_policy AS", "CREATE VIEW radius_policy_0013 AS")


# one further tier on every capped package, and a top-up in this window for every tenth customer (migration 0037)
FAIR_USAGE = ("""
INSERT INTO package_cap_tiers (package_id, operator_id, after_bytes, download_kbps, upload_kbps)
SELECT id, operator_id, 200000000000, 512, 256 FROM packages
""", """
INSERT INTO data_topups (operator_id, customer_id, name, bytes, price_minor, currency, window_start, window_end)
SELECT p.operator_id, p.customer_id, '5 GB', 5000000000, 10000, 'BDT', p.cap_window_start, p.cap_window_end
  FROM radius_policy p WHERE p.customer_id % 10 = 0
""")


def timed(conn: psycopg.Connection, query: str, params=None, worker: bool = False) -> tuple[float, int]:
    """Milliseconds for one query; worker=True runs it as the RADIUS worker does (its clock, JIT off)."""
    started = time.perf_counter()
    with conn.transaction():
        if worker:
            conn.execute(SET_POLICY_NOW, (datetime.now(UTC).isoformat(),))
        rows = conn.execute(query, params).fetchall()
    return (time.perf_counter() - started) * 1000, len(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10000)
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--subscribers", type=int, help="the scale bench with this many customers instead")
    parser.add_argument("--changes-per-second", type=float, default=1000.0)
    parser.add_argument("--visibility-seconds", type=float, default=10.0)
    parser.add_argument("--changes-while-down", type=int, default=1000)
    parser.add_argument("--no-load-variants", action="store_true", help="skip the timed loads (baseline and now)"
                        " and measure only the reconnect and the visibility")
    parser.add_argument("--load-variants", choices=["all"], help="also the memory baseline (the load before the "
                        "server-side cursor and shared row parts)")
    parser.add_argument("--load-rounds", type=int, default=1, help="timed loads of each variant, interleaved")
    parser.add_argument("--loads-only", action="store_true", help="skip the reconnect and the visibility")
    parser.add_argument("--url", help="with --subscribers: a database already seeded with that many (see --hold)")
    parser.add_argument("--hold", action="store_true", help="with --subscribers: seed, print the URL, keep the "
                        "database until interrupted (seeding 1,000,000 takes minutes; reuse it with --url)")
    args = parser.parse_args(argv)
    if args.subscribers is not None:
        return scale(args)
    with throwaway_database() as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SEED, {"customers": args.customers})
        conn.execute(SESSIONS, {"sessions": args.sessions})
        conn.execute(BASELINE_VIEW)
        conn.execute(view_before_tiers())
        for statement in FAIR_USAGE:
            conn.execute(statement)
        conn.execute("VACUUM ANALYZE")
        users = [r[0] for r in conn.execute("SELECT username FROM customers")]
        everyone = "SELECT * FROM {} WHERE username = ANY(%s)"
        cases = {"full load, before (0002 view)": ("SELECT * FROM radius_policy_before", None, False),
                 "full load, before (0002 view), JIT off": ("SELECT * FROM radius_policy_before", None, True),
                 "full load, before tiers (0013 view), JIT off": ("SELECT * FROM radius_policy_0013", None, True),
                 "full load, cap windows, JIT on": ("SELECT * FROM radius_policy", None, False),
                 "full load, as the worker runs it (JIT off)": ("SELECT * FROM radius_policy", None, True),
                 "all users by ANY, before (0002 view)": (everyone.format("radius_policy_before"), (users,), False),
                 "all users by ANY, as the worker runs it": (everyone.format("radius_policy"), (users,), True),
                 f"{WINDOW_BATCH} users by ANY (one boundary batch)":
                     (everyone.format("radius_policy"), (users[:WINDOW_BATCH],), True)}
        figures: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, (query, params, worker) in cases.items():
                ms, count = timed(conn, query, params, worker)
                assert count == len(params[0]) if params else count == args.customers, (name, count)
                figures[name].append(ms)
    # psycopg prepares a statement from its 5th execution, and a prepared plan skips JIT: read the first rounds
    print(f"{args.customers} customers, {args.customers * args.sessions} closed sessions, {args.rounds} rounds")
    for name, values in figures.items():
        print(f"  {name:44s} median {sorted(values)[len(values) // 2]:8.1f} ms   rounds {[round(v) for v in values]}")
    print(json.dumps({"bench": "snapshot", **{k: sorted(v)[len(v) // 2] for k, v in figures.items()}}))
    return 0


def scale(args) -> int:
    from bench import snapshot_scale

    if not 20000 <= args.subscribers <= 5_000_000 or not 1 <= args.changes_per_second <= 10000:
        print("--subscribers must be in [20000, 5000000], --changes-per-second in [1, 10000]", file=sys.stderr)
        return 2
    if args.changes_per_second * args.visibility_seconds > args.subscribers / 2:
        print("--changes-per-second x --visibility-seconds must stay under half the subscribers", file=sys.stderr)
        return 2
    if args.url:
        out = scale_on(args.url, args)
    else:
        with throwaway_database() as url:
            with psycopg.connect(url, autocommit=True) as conn:
                started = time.monotonic()
                # 7 digits: lpad cuts longer numbers to its width, and user1000000 would become user100000 again
                conn.execute(SEED.replace("lpad(i::text, 6, '0')", "lpad(i::text, 7, '0')"),
                             {"customers": args.subscribers})
                conn.execute("VACUUM ANALYZE")
            print(f"# {args.subscribers:,} customers seeded in {time.monotonic() - started:.0f} s", file=sys.stderr)
            if args.hold:
                print(url, flush=True)
                try:
                    while True:
                        time.sleep(60)
                except KeyboardInterrupt:
                    return 0
            out = scale_on(url, args)
    snapshot_scale.report(out)
    return 0


def scale_on(url: str, args) -> dict:
    from bench import snapshot_scale

    return snapshot_scale.run(url, args.subscribers, args.changes_while_down, args.changes_per_second,
                              args.visibility_seconds,
                              loads=False if args.no_load_variants else (args.load_variants or True),
                              rounds=args.load_rounds, only_loads=args.loads_only)


if __name__ == "__main__":
    raise SystemExit(main())
