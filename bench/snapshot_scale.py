"""The policy snapshot at size (issue 19 item 4): `python -m bench.snapshot --subscribers 1000000`.

In this process, with the RADIUS worker's own code (radius_module.worker.Worker):
  1. load: `reload_all` (the view's rows, the open sessions, the swap) timed, and the process's resident memory
     before and after it, divided by N (goal < 10 s, < 1 KB per subscriber); what one row is made of
     (sys.getsizeof over the objects a row holds, objects shared between rows counted once); the baseline, the
     load as it was (one client-side result, every row its own objects), in its own fresh process first;
  2. reconnect: the worker thread's connection is terminated by Postgres, policy changes are committed while it
     is down, and the bench asserts every one is in the snapshot after the worker's reconnect and full reload;
  3. visibility: other processes (4 connections) commit --changes-per-second single-customer policy changes (1,000/s: one
     UPDATE per transaction, paced) for --seconds; the worker's snapshot records when each lands; p50/p99/max
     of landed - committed (module side: a login's round trip is not included; `make bench-visibility` has it).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import sys
import time
from datetime import timedelta

import psycopg
from psycopg.rows import dict_row

from bench import snapshot_main
from bench.policy_views import VIEW_0037
from radbill.policy import PolicyRow
from radius_module import worker as worker_module
from radius_module.sessions import OpenSessions, load_open_sessions, octets_before_windows
from radius_module.snapshot import POLICY_QUERY, PolicySnapshot
from radius_module.worker import SET_POLICY_NOW, Worker

DRIVERS = 4


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def backend_cpu(pid: int) -> float:
    """CPU seconds a Postgres backend has used (user + system): the server's share, whatever the box's load."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TimedSnapshot(PolicySnapshot):
    """Records when each username's row last landed (monotonic, comparable across processes)."""

    def __init__(self):
        super().__init__()
        self.landed: dict[str, float] = {}

    def update(self, usernames, rows) -> None:
        usernames = list(usernames)
        super().update(usernames, rows)
        now = time.monotonic()
        for name in usernames:
            self.landed[name] = now


def deep_size(rows) -> tuple[float, dict[str, float]]:
    """Bytes per row of the objects rows hold (each object counted once over all rows), by type."""
    seen: set[int] = set()
    by_type: dict[str, int] = {}

    def walk(obj) -> None:
        if id(obj) in seen or obj is None or isinstance(obj, bool):
            return
        seen.add(id(obj))
        by_type[type(obj).__name__] = by_type.get(type(obj).__name__, 0) + sys.getsizeof(obj)
        if isinstance(obj, tuple):
            for item in obj:
                walk(item)
        for slot in getattr(type(obj), "__slots__", ()):
            walk(getattr(obj, slot, None))

    for row in rows:
        walk(row)
    n = max(1, len(rows))
    return sum(by_type.values()) / n, {k: round(v / n, 1) for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])}


def load_as_before(worker: Worker, conn: psycopg.Connection) -> None:
    """The baseline: reload_all as it read the view before (one client-side result, a row object per field)."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(SET_POLICY_NOW, (worker.clock().isoformat(),))
        rows = [PolicyRow.from_view(r) for r in cur.execute(POLICY_QUERY)]
    sessions = load_open_sessions(conn)
    before = octets_before_windows(sessions, rows)
    worker.snapshot.replace_all(rows)
    worker.sessions.replace_all(sessions, before)
    worker._schedule_resets(rows)


def measure_load(url: str, subscribers: int, variant: str = "now") -> dict:
    gc.collect()
    before = rss_bytes()
    snapshot = TimedSnapshot()
    worker = Worker(url, snapshot, OpenSessions(timedelta(minutes=16)))
    with psycopg.connect(url, autocommit=True) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        server = backend_cpu(backend)
        started, cpu = time.perf_counter(), time.process_time()
        if variant == "before":
            load_as_before(worker, conn)
        elif variant == "main":  # main's load before the overlap (bench/snapshot_main.py)
            snapshot_main.reload_all(worker, conn)
        else:
            if variant == "view_0037":  # today's load reading 0037's view (created by run()): 0051's baseline
                worker_module.POLICY_QUERY = "SELECT * FROM radius_policy_0037"
            worker.reload_all(conn)
        load_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        server_s = backend_cpu(backend) - server  # the worker's own backend; the load's helper connection none
    gc.collect()
    after = rss_bytes()
    assert len(snapshot) == subscribers, (len(snapshot), subscribers)
    sample = list(snapshot._rows.values())[:: max(1, subscribers // 20000)]
    per_row, by_type = deep_size(sample)
    dict_bytes = sys.getsizeof(snapshot._rows) / subscribers
    return {"variant": variant, "load_s": round(load_s, 2), "cpu_s": round(cpu_s, 2), "server_cpu_s": round(server_s, 2),
            "rss_before_mb": round(before / 2**20),
            "rss_after_mb": round(after / 2**20), "rss_per_subscriber_bytes": round((after - before) / subscribers),
            "row_bytes_sampled": round(per_row), "row_bytes_by_type": by_type,
            "snapshot_dict_bytes_per_entry": round(dict_bytes, 1)}


def _load_in_child(url: str, subscribers: int, variant: str, out) -> None:
    out.send(measure_load(url, subscribers, variant))
    out.close()


def load_in_fresh_process(url: str, subscribers: int, variant: str) -> dict:
    """Each variant in its own process, so one load's heap does not flatter or burden the other's RSS."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_load_in_child, args=(url, subscribers, variant, child))
    proc.start()
    child.close()
    try:
        return parent.recv()
    finally:
        proc.join(60)


def measure_reconnect(url: str, changes: int) -> tuple[dict, Worker, TimedSnapshot]:
    """Start the worker thread, cut its connection, change policies while it is down, wait for the reload."""
    snapshot = TimedSnapshot()
    worker = Worker(url, snapshot, OpenSessions(timedelta(minutes=16)))
    started = time.monotonic()
    worker.start()
    if not worker.connected.wait(600):
        raise RuntimeError("the worker did not load the snapshot within 600 s")
    first_load = time.monotonic() - started
    with psycopg.connect(url, autocommit=True) as conn:
        victims = [r[0] for r in conn.execute("SELECT username FROM customers ORDER BY id DESC LIMIT %s",
                                              (changes,))]
        cut = time.monotonic()
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
                     "'radbill-radius'")
        while worker.connected.is_set() and time.monotonic() - cut < 10:
            time.sleep(0.001)
        down = not worker.connected.is_set()
        conn.execute("UPDATE customers SET status = 'suspended' WHERE username = ANY(%s)", (victims,))
        changed_at = time.monotonic()
        still_down = not worker.connected.is_set()  # the changes were committed while the feed was down
    if not worker.connected.wait(1800):  # a full reload: minutes at 1,000,000 on a loaded box
        raise RuntimeError("the worker did not reconnect and reload within 1800 s")
    reconnected = time.monotonic()
    missing = [u for u in victims if (row := snapshot.get(u)) is None or row.status != "suspended"]
    assert down and still_down, "the changes were not made while the worker was disconnected"
    assert not missing, f"{len(missing)} changes made while the feed was down are missing after the reconnect"
    return ({"first_load_s": round(first_load, 2), "changes_while_down": changes,
             "cut_to_reloaded_s": round(reconnected - cut, 2), "changed_to_reloaded_s": round(reconnected - changed_at, 2),
             "missing_after_reconnect": len(missing)}, worker, snapshot)


def _change_driver(url: str, usernames: list[tuple[int, str]], rate: float, start: float, out) -> None:
    """One UPDATE per transaction, paced to `rate`/s from `start`; sends back (username, commit time) pairs."""
    committed = []
    with psycopg.connect(url, autocommit=True) as conn:
        for n, (i, username) in enumerate(usernames):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            conn.execute("UPDATE customers SET simultaneous_use = %s WHERE username = %s", (i % 100 + 1, username))
            committed.append((username, time.monotonic()))
    out.send(committed)
    out.close()


def measure_visibility(url: str, worker: Worker, snapshot: TimedSnapshot, rate: float, seconds: float) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        usernames = [r[0] for r in conn.execute("SELECT username FROM customers ORDER BY id LIMIT %s",
                                                (int(rate * seconds),))]
    snapshot.landed.clear()
    ctx = multiprocessing.get_context("spawn")
    # DRIVERS connections, each with every DRIVERS-th change: one connection's round trips could not reach 1,000/s
    start = time.monotonic() + 2.0
    drivers = []
    for d in range(DRIVERS):
        parent, child = ctx.Pipe()
        share = [(i, u) for i, u in enumerate(usernames) if i % DRIVERS == d]
        proc = ctx.Process(target=_change_driver, args=(url, share, rate / DRIVERS, start, child))
        proc.start()
        child.close()
        drivers.append((proc, parent))
    committed = []
    for proc, parent in drivers:
        committed += parent.recv()
        proc.join(30)
    index = {u: i for i, u in enumerate(usernames)}
    committed.sort(key=lambda c: c[1])
    elapsed = committed[-1][1] - committed[0][1]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(u not in snapshot.landed for u, _ in committed[-10:]):
        time.sleep(0.05)
    delays = sorted(max(0.0, snapshot.landed[u] - t) for u, t in committed if u in snapshot.landed)
    lost = len(committed) - len(delays)
    wrong = sum(1 for u, _ in committed if (r := snapshot.get(u)) is None
                or r.simultaneous_use != index[u] % 100 + 1)

    def pct(q: float) -> float:
        return round(delays[min(len(delays) - 1, int(q * len(delays)))] * 1000, 1) if delays else float("nan")

    return {"changes": len(committed), "achieved_rate": round(len(committed) / elapsed, 1) if elapsed else 0,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": pct(1.0), "not_landed": lost, "wrong_value": wrong}


def run(url: str, subscribers: int, changes: int, rate: float, seconds: float, loads: bool | str = True,
        rounds: int = 1, only_loads: bool = False) -> dict:
    out = {"subscribers": subscribers}
    # baselines first, then now, each in a fresh process; same database, same run, rounds interleaved (the best
    # round of each is reported, every round's time beside it: the box is shared)
    variants = {"all": ("before", "view_0037", "main", "now"), True: ("main", "now")}.get(loads, ())
    if variants:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(VIEW_0037.replace("CREATE VIEW", "CREATE OR REPLACE VIEW"))
            conn.execute(snapshot_main.view_0051())
    for _ in range(rounds):
        for variant in variants:
            got = load_in_fresh_process(url, subscribers, variant)
            print(f"# load ({variant}): {got}", file=sys.stderr, flush=True)
            out.setdefault("rounds_" + variant, []).append(got["load_s"])
            if got["load_s"] <= out.get("load_" + variant, got)["load_s"]:
                out["load_" + variant] = got
    out["load"] = out.get("load_now")
    if not only_loads:
        out["reconnect"], worker, snapshot = measure_reconnect(url, changes)
        print(f"# reconnect: {out['reconnect']}", file=sys.stderr, flush=True)
        try:
            out["visibility"] = measure_visibility(url, worker, snapshot, rate, seconds)
        finally:
            worker.stop(30)
    out["loadavg"] = [round(x, 1) for x in os.getloadavg()]
    return out


def report(out: dict) -> None:
    load, rec, vis, base = out["load"], out.get("reconnect"), out.get("visibility"), out.get("load_before")
    print(f"{out['subscribers']:,} subscribers (load average {out['loadavg']})")
    if load is None and rec:
        print(f"  reconnect: {rec}\n  visibility: {vis}")
        print(json.dumps({"bench": "snapshot_scale", **out}))
        return
    if base:
        print(f"  baseline (client-side result, unshared rows): load {base['load_s']} s, "
              f"{base['rss_per_subscriber_bytes']} B/subscriber RSS, {base['row_bytes_sampled']} B of row objects "
              f"{base['row_bytes_by_type']}")
    if old := out.get("load_main"):
        print(f"  baseline (main's load: 0051's view, one loop, dataclass __init__): load {old['load_s']} s (rounds "
              f"{out['rounds_main']}), {old['rss_per_subscriber_bytes']} B/subscriber RSS, CPU client "
              f"{old['cpu_s']} s, server {old['server_cpu_s']} s")
    if old := out.get("load_view_0037"):
        print(f"  baseline (today's load reading 0037's view): load {old['load_s']} s (rounds "
              f"{out['rounds_view_0037']}), {old['rss_per_subscriber_bytes']} B/subscriber RSS")
    print(f"  snapshot load (reload_all)     {load['load_s']:8.2f} s    goal < 10 s: "
          f"{'met' if load['load_s'] < 10 else 'MISSED'} (rounds {out['rounds_now']}), CPU client {load['cpu_s']} s, server {load['server_cpu_s']} s")
    print(f"  resident memory / subscriber   {load['rss_per_subscriber_bytes']:8d} B    goal < 1024 B: "
          f"{'met' if load['rss_per_subscriber_bytes'] < 1024 else 'MISSED'} (RSS {load['rss_before_mb']} -> "
          f"{load['rss_after_mb']} MB)")
    print(f"  one row's objects (sampled)    {load['row_bytes_sampled']:8d} B    {load['row_bytes_by_type']}")
    print(f"  snapshot dict per entry        {load['snapshot_dict_bytes_per_entry']:8.1f} B")
    if not rec:
        print(json.dumps({"bench": "snapshot_scale", **out}))
        return
    print(f"  reconnect: {rec['changes_while_down']} changes committed while the feed was down, all visible "
          f"{rec['changed_to_reloaded_s']} s later (cut -> reloaded {rec['cut_to_reloaded_s']} s)")
    print(f"  visibility at {vis['achieved_rate']:.0f} changes/s: p50 {vis['p50_ms']} ms, p99 {vis['p99_ms']} ms, "
          f"max {vis['max_ms']} ms ({vis['changes']} changes, {vis['not_landed']} not landed, "
          f"{vis['wrong_value']} wrong)")
    print(json.dumps({"bench": "snapshot_scale", **out}))
