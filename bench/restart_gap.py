"""How long RADIUS goes unanswered when a router edit reaches FreeRADIUS (`python -m bench.restart_gap`).

Access-Requests are sent open loop at --rate per second (like many NASes at once) while, every few seconds, a
second router's secret changes (the clients file changes: FreeRADIUS must restart) and then only its description
(no restart). Prints, per event, the requests left unanswered and the gap in ms of send time, then one JSON line.
A NAS retransmits an unanswered request (MikroTik: every 1 s by default), so a gap below that costs a retry.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from bench.pacer import Pacer, gaps
from bench.packets import ACCESS_ACCEPT
from bench.servers import Lab, free_udp_port
from radbill import freeradius
from radbill.passwords import generate_nas_secret


def wait_handled(service: freeradius.RadiusService, seen: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while service.nas_changes_handled <= seen:
        if time.monotonic() > deadline:
            raise RuntimeError("the router change was not handled")
        time.sleep(0.01)


def edit(lab: Lab, service: freeradius.RadiusService, statement: str, params: tuple) -> tuple[float, float]:
    """Run one router edit; returns when it was committed and when the watcher had dealt with it."""
    seen = service.nas_changes_handled
    committed = time.monotonic()
    lab.sql(statement, params)
    wait_handled(service, seen)
    if service.last_restart_ms:
        print(f"# restart: new server loaded in {service.last_restart_ms[0]:.0f} ms, switched over in "
              f"{service.last_restart_ms[1]:.0f} ms", file=sys.stderr)
    service.last_restart_ms = None
    return committed, time.monotonic()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=10000)
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--modes", default="handover,plain", help="handover (the default restart) and/or plain "
                   "(stop, then start: the baseline)")
    args = p.parse_args(argv)
    lab = Lab(args.users)
    try:
        lab.start_database()
        lab.seed()
        settings = freeradius.RadiusSettings(
            database_url=lab.db_url, state_dir=lab.base / "radbill", auth_port=free_udp_port(),
            acct_port=free_udp_port(), reject_delay=0)
        service = freeradius.RadiusService(settings)
        service.start()
        service.watch_nas_changes()
        freeradius.wait_ready(settings, lab.secret, service.process)
        operator = lab.sql("SELECT operator_id FROM nas LIMIT 1")[0][0]
        other = lab.sql("INSERT INTO nas (nasname, shortname, secret, operator_id) VALUES ('127.0.0.9', 'other', "
                        "%s, %s) RETURNING id", (generate_nas_secret(), operator))[0][0]
        time.sleep(5)  # the insert itself restarts FreeRADIUS once
        users = [(name, password, ACCESS_ACCEPT) for name, password in lab.users[:500]]
        events = []
        with Pacer("127.0.0.1", settings.auth_port, lab.secret, users, rate=args.rate) as pacer:
            time.sleep(1)
            for _ in range(args.rounds):  # modes interleaved: a slow spell of the VM hits both
                for mode in args.modes.split(","):
                    service.handover = mode == "handover"
                    for kind, statement, params in (
                            (f"secret/{mode}", "UPDATE nas SET secret = %s WHERE id = %s",
                             (generate_nas_secret(), other)),
                            ("description", "UPDATE nas SET description = %s WHERE id = %s",
                             (str(time.time()), other))):
                        events.append((kind, *edit(lab, service, statement, params)))
                        time.sleep(2)
        probes = pacer.stop()
        service.stop()
        log = (settings.state_dir / "log" / "radiusd.out").read_text(errors="replace")
        for line in log.splitlines():
            if "took over" in line:
                print("# log:", line, file=sys.stderr)
    finally:
        lab.close()
    runs = gaps(probes)
    results = []
    for kind, committed, handled in events:
        mine = [ms for start, ms in runs if committed <= start <= handled + 0.5]
        lost = sum(1 for x in probes if x.code is None and committed <= x.sent <= handled + 0.5)
        results.append({"edit": kind, "gap_ms": round(sum(mine), 1), "unanswered": lost,
                        "handled_ms": round((handled - committed) * 1000, 1)})
        print(f"{kind:16s} unanswered {lost:5d}   gap {sum(mine):7.1f} ms   handled after "
              f"{(handled - committed) * 1000:7.1f} ms")
    for kind in sorted({r["edit"] for r in results}):
        values = [r["gap_ms"] for r in results if r["edit"] == kind]
        print(f"{kind}: median gap {statistics.median(values):.1f} ms, max {max(values):.1f} ms "
              f"over {len(values)} edits at {args.rate:g} req/s")
    wrong = sum(1 for x in probes if x.code is not None and x.code != x.expected)
    print(json.dumps({"bench": "restart_gap", "users": args.users, "rate": args.rate, "sent": len(probes),
                      "wrong": wrong, "results": results}, separators=(",", ":")))
    return 0 if wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
