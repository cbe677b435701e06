"""Two RADIUS nodes (`radbill radius`) on one database: how long a change takes to reach each.

    python -m bench.two_nodes --tries 50

- `policy`: `UPDATE customers SET status = 'suspended'` committed -> each node's first reject (both polled at
  once, one thread each); the nodes are symmetric, so node A's figure is the one-node baseline of the same run.
- `start`: an Accounting-Start acknowledged by node A (simultaneous-use 1) -> the first reject on node A and on
  node B. Whichever node folds the Start, the other learns it from radacct_feed (radius_module/peers.py).
Figures include one login's round trip. Prints p50/p99/max per node and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from bench.servers import Lab
from bench.visibility import summary, until_rejected
from radbill.radius.client import RadiusClient
from radbill.radius_node import NodeOptions, start_node


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ENV = {"RADBILL_REJECT_DELAY": "0", "RADBILL_ACCT_INTERIM_INTERVAL": "60"}


def _both(clients, username, password, since):
    with ThreadPoolExecutor(2) as pool:
        return [f.result() for f in [pool.submit(until_rejected, c, username, password, since) for c in clients]]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tries", type=int, default=50)
    args = p.parse_args(argv)
    lab = Lab(2 * args.tries)
    services = []
    results = {"policy": ([], []), "start": ([], [])}
    try:
        lab.start_database()
        lab.seed()
        lab.sql("UPDATE customers SET simultaneous_use = 1")
        for name in ("a", "b"):
            services.append(start_node(NodeOptions(lab.db_url, lab.base / f"node-{name}", "127.0.0.1",
                                                   free_udp_port(), free_udp_port(), f"bench-{name}"), env=ENV))
        clients = [RadiusClient("127.0.0.1", s.settings.auth_port, s.settings.acct_port, lab.secret, timeout=1.0,
                                retries=2) for s in services]
        for c in clients:
            while not c.status_server():
                time.sleep(0.1)
        time.sleep(1.0)  # both heartbeats in: every fold from here on feeds the other node
        with psycopg.connect(lab.db_url, autocommit=True) as conn:
            for i in range(args.tries):
                user, password = lab.users[i]
                assert all(c.send(c.access_request(user, password)).accepted for c in clients)
                conn.execute("UPDATE customers SET status = 'suspended' WHERE username = %s", (user,))
                for k, r in enumerate(_both(clients, user, password, time.monotonic())):
                    results["policy"][k].append(r)
            for i in range(args.tries):
                user, password = lab.users[args.tries + i]
                a = clients[0]
                assert all(c.send(c.access_request(user, password)).accepted for c in clients)
                a.send(a.accounting_request(User_Name=user, Acct_Session_Id=f"two-{i}", Acct_Status_Type="Start",
                                            NAS_Port=1, Framed_IP_Address="10.1.0.5"))
                for k, r in enumerate(_both(clients, user, password, time.monotonic())):
                    results["start"][k].append(r)
    finally:
        for s in services:
            s.stop()
        lab.close()
    rows = [summary(f"{test}@{node}", samples[k]) for test, samples in results.items()
            for k, node in enumerate("AB")]
    print(f"{'test':10} {'tries':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for r in rows:
        print(f"{r['test']:10} {r['tries']:>6} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f}")
    print(json.dumps({"bench": "two_nodes", "results": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
