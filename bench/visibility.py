"""`make bench-visibility`: how long after a change radbill's FreeRADIUS answers by it.

    python -m bench.visibility --tries 200

- `start`: an Accounting-Start is acknowledged -> the customer's next login (simultaneous-use 1) is rejected;
  `extra` counts the logins accepted in between (a NAS sending logins back to back, one at a time).
- `policy`: `UPDATE customers SET status = 'suspended'` is committed -> the next login is rejected.

Each try uses a fresh customer; the figure is the time from the acknowledgement (or the commit) to the first
reject, measured at the client, so it includes one login's round trip. Prints p50/p99/max and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import time

import psycopg

from bench.servers import Lab
from radbill.radius.client import RadiusClient

GIVE_UP_SECONDS = 3.0


def until_rejected(client: RadiusClient, username: str, password: str, since: float) -> tuple[float, int]:
    """Seconds from `since` to the first Access-Reject, and how many logins were accepted before it."""
    accepted = 0
    while time.monotonic() - since < GIVE_UP_SECONDS:
        reply = client.send(client.access_request(username, password))
        if reply is not None and reply.code == "Access-Reject":
            return time.monotonic() - since, accepted
        accepted += reply is not None and reply.accepted
    raise RuntimeError(f"{username} was never rejected within {GIVE_UP_SECONDS}s")


def start_try(client: RadiusClient, username: str, password: str, n: int) -> tuple[float, int]:
    if not client.send(client.access_request(username, password)).accepted:
        raise RuntimeError(f"{username} is not accepted before its Start")
    reply = client.send(client.accounting_request(User_Name=username, Acct_Session_Id=f"vis-{n}",
                                                  Acct_Status_Type="Start", NAS_Port=1,
                                                  Framed_IP_Address="10.1.0.5"))
    acked = time.monotonic()
    if reply is None:
        raise RuntimeError("the Accounting-Start was not acknowledged")
    return until_rejected(client, username, password, acked)


def policy_try(client: RadiusClient, conn: psycopg.Connection, username: str, password: str) -> tuple[float, int]:
    if not client.send(client.access_request(username, password)).accepted:
        raise RuntimeError(f"{username} is not accepted before the change")
    conn.execute("UPDATE customers SET status = 'suspended' WHERE username = %s", (username,))  # autocommit
    return until_rejected(client, username, password, time.monotonic())


def summary(name: str, samples: list[tuple[float, int]]) -> dict:
    ms = sorted(s * 1000 for s, _ in samples)
    extra = sorted(e for _, e in samples)
    return {"test": name, "tries": len(ms), "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2), "max_ms": round(ms[-1], 2),
            "extra_accepts_p50": statistics.median(extra), "extra_accepts_max": extra[-1]}


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tries", type=int, default=200, help="tries per test (each uses a fresh customer)")
    p.add_argument("--acct-write", default="sql", choices=("sql", "spool"), help="RADBILL_ACCT_WRITE")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    lab = Lab(2 * args.tries)
    try:
        lab.start_database()
        lab.seed()
        lab.sql("UPDATE customers SET simultaneous_use = 1")
        lab.acct_write = args.acct_write
        server = lab.start_radbill()
        client = RadiusClient("127.0.0.1", server.settings.auth_port, server.settings.acct_port, lab.secret,
                              timeout=1.0, retries=2)
        users = lab.users
        with psycopg.connect(lab.db_url, autocommit=True) as conn:
            starts = [start_try(client, *users[i], i) for i in range(args.tries)]
            changes = [policy_try(client, conn, *users[args.tries + i]) for i in range(args.tries)]
    except KeyboardInterrupt:
        print("interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        lab.close()
    rows = [summary("start", starts), summary("policy", changes)]
    print(f"{'test':8} {'tries':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'extra p50':>10} {'extra max':>10}")
    for r in rows:
        print(f"{r['test']:8} {r['tries']:>6} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} "
              f"{r['extra_accepts_p50']:>10} {r['extra_accepts_max']:>10}")
    print(json.dumps({"bench": "visibility", "acct_write": args.acct_write, "results": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
