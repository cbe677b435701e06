"""`python -m bench.journal_insert`: Postgres CPU per accounting journal INSERT, the statement rlm_sql sends for
every Accounting-Request (raddb/mods/sql, filled in as FreeRADIUS would), by pgbench over the simple protocol like
rlm_sql (no prepared statements), 8 connections, on a migrated database. Variants, alternated over --rounds:

- `durable`: what `make run`'s Postgres does (fsync, synchronous_commit and full-page writes on);
- `wrapped`: the same row through a PL/pgSQL function whose INSERT plan is cached (only the call is parsed);
- `commit_delay`: durable with commit_delay=100 us, commit_siblings=3 (group commit);
- `async`: synchronous_commit=off, for reference only: an Accounting-Response must follow a durable row.

Prints microseconds of Postgres CPU (postmaster, its backends and helpers) per INSERT and the rate; the rates
depend on the machine's load, the CPU per INSERT much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from bench.servers import tree_cpu_seconds
from radbill.db.cluster import RADIUS, LocalCluster, free_port, pg_tool
from radbill.db.migrate import migrate_url

ROOT = Path(__file__).resolve().parent.parent
WRAPPER = """
CREATE FUNCTION bench_journal_add(
    p_status text, p_session text, p_unique text, p_user text, p_realm text, p_nas text, p_port text,
    p_port_type text, p_time bigint, p_session_time text, p_authentic text, p_connect text, p_in_gw text,
    p_in text, p_out_gw text, p_out text, p_called text, p_calling text, p_cause text, p_service text,
    p_protocol text, p_ip text, p_ipv6 text, p_ipv6_prefix text, p_interface text, p_delegated text)
RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid,
        nasporttype, event_time, sessiontime, authentic, connectinfo, inputoctets, outputoctets, calledstationid,
        callingstationid, terminatecause, servicetype, framedprotocol, framedipaddress, framedipv6address,
        framedipv6prefix, framedinterfaceid, delegatedipv6prefix)
    VALUES (p_status, p_session, radbill_acct_unique_id(p_unique), p_user, NULLIF(p_realm, ''),
        NULLIF(p_nas, '')::inet, NULLIF(p_port, ''), p_port_type, to_timestamp(p_time),
        NULLIF(p_session_time, '')::bigint, p_authentic, p_connect,
        (coalesce(NULLIF(p_in_gw, ''), '0')::bigint << 32) + coalesce(NULLIF(p_in, ''), '0')::bigint,
        (coalesce(NULLIF(p_out_gw, ''), '0')::bigint << 32) + coalesce(NULLIF(p_out, ''), '0')::bigint,
        p_called, p_calling, p_cause, p_service, p_protocol, NULLIF(p_ip, '')::inet, NULLIF(p_ipv6, '')::inet,
        NULLIF(p_ipv6_prefix, '')::inet, NULLIF(p_interface, ''), NULLIF(p_delegated, '')::inet);
END $f$;
GRANT EXECUTE ON FUNCTION bench_journal_add TO radbill_radius;
"""
WRAPPED_CALL = (
    "SELECT bench_journal_add('%{Acct-Status-Type}', '%{Acct-Session-Id}', '%{User-Name},%{Acct-Session-ID},"
    "%{%{NAS-IPv6-Address}:-%{NAS-IP-Address}},%{NAS-Identifier},%{NAS-Port-ID},%{NAS-Port}', '%{SQL-User-Name}', "
    "'%{Realm}', '%{%{NAS-IPv6-Address}:-%{NAS-IP-Address}}', '%{%{NAS-Port-ID}:-%{NAS-Port}}', '%{NAS-Port-Type}', "
    "%{%{integer:Event-Timestamp}:-%l}, '%{Acct-Session-Time}', '%{Acct-Authentic}', '%{Connect-Info}', "
    "'%{Acct-Input-Gigawords}', '%{Acct-Input-Octets}', '%{Acct-Output-Gigawords}', '%{Acct-Output-Octets}', "
    "'%{Called-Station-Id}', '%{Calling-Station-Id}', '%{Acct-Terminate-Cause}', '%{Service-Type}', "
    "'%{Framed-Protocol}', '%{Framed-IP-Address}', '%{Framed-IPv6-Address}', '%{Framed-IPv6-Prefix}', "
    "'%{Framed-Interface-Id}', '%{Delegated-IPv6-Prefix}')")
# an Interim-Update as a PPPoE router sends it
PACKET = {"Acct-Status-Type": "Interim-Update", "User-Name": "bench000042", "SQL-User-Name": "bench000042",
          "NAS-IP-Address": "10.0.0.1", "NAS-Identifier": "bras-1", "NAS-Port": "15728640",
          "NAS-Port-Type": "Ethernet", "Acct-Session-Time": "600", "Acct-Authentic": "RADIUS",
          "Called-Station-Id": "pppoe-service", "Calling-Station-Id": "AA:BB:CC:00:00:2A",
          "Service-Type": "Framed-User", "Framed-Protocol": "PPP", "Framed-IP-Address": "100.64.0.42",
          "Acct-Input-Octets": "123456789", "Acct-Output-Octets": "987654321"}
VARIANTS = {"durable": {}, "wrapped": {}, "commit_delay": {"commit_delay": "100", "commit_siblings": "3"},
            "async": {"synchronous_commit": "off"}}


def journal_query() -> str:
    """raddb/mods/sql's accounting query, as one line."""
    text = (ROOT / "raddb" / "mods" / "sql").read_text()
    text = text[text.index('query = "') + len('query = "'):]
    return text[:text.index(')"\n') + 1].replace("\\\n", " ")


def expand(query: str) -> str:
    """The query as FreeRADIUS expands it for PACKET; the session id varies per transaction (pgbench's :r)."""
    query = query.replace("'%{Acct-Session-Id}'", "'s' || :r").replace("%{Acct-Session-ID}", "s")
    query = query.replace("%{%{integer:Event-Timestamp}:-%l}", str(int(time.time())))
    query = re.sub(r"%\{%\{([A-Za-z-]+)\}:-0\}", lambda m: PACKET.get(m.group(1), "0"), query)
    query = re.sub(r"%\{%\{([A-Za-z0-9-]+)\}:-%\{([A-Za-z0-9-]+)\}\}",
                   lambda m: PACKET.get(m.group(1)) or PACKET.get(m.group(2), ""), query)
    query = re.sub(r"%\{([A-Za-z0-9-]+)\}", lambda m: PACKET.get(m.group(1), ""), query)
    assert "%{" not in query, query
    return "\\set r random(1, 1000000000)\n" + query + ";\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inserts", type=int, default=40000, help="per variant and round")
    p.add_argument("--clients", type=int, default=8, help="connections (rlm_sql's pool has up to 8)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--variants", default=",".join(VARIANTS))
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="radbill-bench-"))
    base.chmod(0o755)
    cluster = LocalCluster(base / "pg", free_port(), {"shared_buffers": "1GB"})
    creds = cluster.init()
    cluster.start(log=base / "postgres.log")  # Postgres's defaults: durable, as make run's
    try:
        asyncio.run(migrate_url(creds.url("radbill")))
        with psycopg.connect(creds.url("radbill", "postgres"), autocommit=True) as conn:
            conn.execute(WRAPPER)
        scripts = {"plain": base / "plain.sql", "wrapped": base / "wrapped.sql"}
        scripts["plain"].write_text(expand(journal_query()))
        scripts["wrapped"].write_text(expand(WRAPPED_CALL))
        postmaster = cluster.process.pid
        target = conninfo_to_dict(creds.url("radbill", RADIUS))
        env = {**os.environ, "PGPASSWORD": target["password"]}
        results: dict[str, list[dict]] = {}
        for _ in range(args.rounds):
            for name in args.variants.split(","):
                with psycopg.connect(creds.url("radbill", "postgres"), autocommit=True) as conn:
                    conn.execute("ALTER SYSTEM RESET ALL")
                    for key, value in VARIANTS[name].items():
                        conn.execute(f"ALTER SYSTEM SET {key} = '{value}'")
                    conn.execute("SELECT pg_reload_conf()")
                    conn.execute("TRUNCATE radacct_journal")
                cpu0, t0 = tree_cpu_seconds(postmaster), time.perf_counter()
                run = subprocess.run(
                    [pg_tool("pgbench"), "-n", "-M", "simple", "-c", str(args.clients), "-j", "2",
                     "-t", str(args.inserts // args.clients), "-f", str(scripts["wrapped" if name == "wrapped"
                                                                                 else "plain"]),
                     "-h", target["host"], "-p", str(target["port"]), "-U", target["user"], "radbill"],
                    env=env, capture_output=True, text=True)
                seconds, cpu = time.perf_counter() - t0, tree_cpu_seconds(postmaster) - cpu0
                with psycopg.connect(creds.url("radbill")) as conn:
                    rows = conn.execute("SELECT count(*) FROM radacct_journal").fetchone()[0]
                if run.returncode or rows != args.inserts:
                    raise SystemExit(f"{name}: pgbench failed or stored {rows} rows:\n{run.stderr[-2000:]}")
                results.setdefault(name, []).append({"cpu_us": 1e6 * cpu / rows, "rate": rows / seconds})
        summary = {name: {"cpu_us_per_insert": round(sorted(r["cpu_us"] for r in runs)[len(runs) // 2], 1),
                          "rate_per_s": round(sorted(r["rate"] for r in runs)[len(runs) // 2])}
                   for name, runs in results.items()}
        for name, figures in summary.items():
            print(f"{name:13s} {figures['cpu_us_per_insert']:7.1f} us of Postgres CPU per INSERT (median of "
                  f"{args.rounds}), {figures['rate_per_s']:6d} INSERTs/s")
        print(json.dumps({"bench": "journal_insert", "inserts": args.inserts, "clients": args.clients,
                          "results": summary, "loadavg": os.getloadavg()}))
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
