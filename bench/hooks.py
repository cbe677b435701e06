"""`make bench-hooks`: microseconds of Python per rlm_python3 call, for the hooks radbill runs per packet.

Every call into rlm_python3 is serialised, so this time (plus rlm_python3's own conversion, ~30 µs per call
including the lock hand-over, see bench/README.md) bounds Access-Requests/s. Runs the real hook functions on a
10,000-customer snapshot, without FreeRADIUS:

    python -m bench.hooks --calls 200000
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from datetime import UTC, datetime, timedelta

from radbill.policy import PolicyRow, Speeds
from radius_module import hooks
from radius_module.sessions import OpenSessions
from radius_module.snapshot import PolicySnapshot

# what Debian's rlm_python3 hands over for a typical PPPoE Access-Request (strings quoted)
ACCESS_REQUEST = (
    ("User-Name", '"user00042"'), ("User-Password", '"secret"'), ("NAS-IP-Address", "127.0.0.1"),
    ("NAS-Port", "12"), ("Service-Type", "Framed-User"), ("Framed-Protocol", "PPP"),
    ("Calling-Station-Id", '"aa:bb:cc:dd:ee:ff"'), ("NAS-Identifier", '"bras-1"'),
    ("Message-Authenticator", "0x00000000000000000000000000000000"),
)
# the same session as a fold row: (status, username, acct_unique_id, nas_ip, acct_session_id, framed_ip,
# calling_station_id, octets)
INTERIM_ROW = ("Interim-Update", "user00042", "4f1d3a0b9c7e4a61b2d8e5f60718293a", "127.0.0.1", "81a00042",
               "10.1.0.42", "aa:bb:cc:dd:ee:ff", 123456 + 654321 + 2**32)


class DiscardingWorker:
    """Stands in for the worker thread's queue: the hook's cost, not the database's, is measured."""

    def queue_outbox(self, *args) -> None:
        pass


def setup(users: int) -> None:
    snapshot = PolicySnapshot()
    expires = datetime.now(UTC) + timedelta(days=20)
    snapshot.replace_all([PolicyRow(username=f"user{i:05d}", password="secret", status="active",
                                    speeds=Speeds(10240, 5120), expires_at=expires, simultaneous_use=1)
                          for i in range(users)])
    hooks.State.snapshot = snapshot
    hooks.State.sessions = OpenSessions(timedelta(minutes=16))
    hooks.State.worker = DiscardingWorker()


def per_call_us(fn, arg, calls: int) -> float:
    fn(arg)  # warm
    return min(timeit.repeat(lambda: fn(arg), number=calls, repeat=3)) / calls * 1e6


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.hooks", description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=200_000)
    p.add_argument("--users", type=int, default=10_000)
    args = p.parse_args(argv)
    if not 1 <= args.calls <= 10_000_000 or not 43 <= args.users <= 1_000_000:
        p.error("--calls must be in [1, 10^7], --users in [43, 10^6]")
    setup(args.users)
    code, lists = hooks.authorize(ACCESS_REQUEST)
    if ("Cleartext-Password", "secret") not in lists.get("config", ()):
        print(f"authorize did not accept the benchmark user: {code} {lists}", file=sys.stderr)
        return 1
    # accounting reaches the module through the fold (hooks.apply_accounting, one row per changed session), not
    # per packet: the figure is the tracker's cost for one Interim-Update row
    figures = {"authorize_us": round(per_call_us(hooks.authorize, ACCESS_REQUEST, args.calls), 2),
               "fold_row_interim_us": round(per_call_us(hooks.apply_accounting, [INTERIM_ROW], args.calls), 2)}
    for name, value in figures.items():
        print(f"{name:<24} {value:6.2f} µs per call")
    print(json.dumps({"bench": "hooks", "calls": args.calls, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
