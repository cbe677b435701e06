"""What `make bench-radius` prints: the table, the ratios against issue 19's goals, the generator's share."""

from __future__ import annotations

import os

TARGET_VS_BARE, TARGET_P99_MS, TARGET_ACCT_VS_SQL = 0.9, 3.0, 1.3


def table(rows) -> str:
    header = ("test", "server", "gen", "conc", "req/s", "acked/s", "drain s", "p50 ms", "p95 ms", "p99 ms", "max ms",
              "answered", "accept/ack", "reject", "t/o", "srv cpu", "pg cpu", "gen cpu", "idle", "gen cap/s",
              "postauth log", "radacct", "ok")
    lines = [header]
    for f in rows:
        radacct = "" if f.radacct_rows is None else (
            f"{f.radacct_rows}={f.sessions_acked} sess, {f.closed_rows}={f.stops_acked} stops")
        postauth = "" if f.postauth_rows is None else f"{f.postauth_rows}/{f.answered_total}"
        lines.append((f.test, f.server, f.generator, str(f.concurrency), f"{f.rate:,.0f}",
                      "" if f.acked_rate is None else f"{f.acked_rate:,.0f}",
                      "" if f.drain_s is None else f"{f.drain_s}", f"{f.p50_ms:.2f}", f"{f.p95_ms:.2f}",
                      f"{f.p99_ms:.2f}", f"{f.max_ms:.1f}", str(f.answered), str(f.accepts), str(f.rejects),
                      str(f.timeouts), f"{f.server_cpu:.2f}", f"{f.postgres_cpu:.2f}", f"{f.generator_cpu:.2f}",
                      f"{f.machine_idle:.2f}", f"{f.generator_capacity:,.0f}", postauth, radacct,
                      "yes" if f.valid else "NO"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.rjust(widths[i]) if i > 2 else cell.ljust(widths[i]) for i, cell in enumerate(line))
           for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def ratios(rows) -> dict:
    """Per generator: radbill against each other server (same run, median rounds)."""
    out: dict = {}
    for gen in dict.fromkeys(f.generator for f in rows):
        auth = {f.server: f for f in rows if f.test == "auth" and f.generator == gen}
        acct = {f.server: f for f in rows if f.test == "acct" and f.generator == gen}
        r: dict = {}
        if "radbill" in auth:
            rb = auth["radbill"]
            for other in ("bare_python", "bare_in_radbill", "files", "stock_sql"):
                if other in auth and auth[other].rate:
                    r[f"auth_radbill_vs_{other}"] = round(rb.rate / auth[other].rate, 3)
            r["auth_radbill_p99_ms"] = rb.p99_ms
        if "files" in auth and "bare_python" in auth and auth["files"].rate:
            r["auth_bare_python_vs_files"] = round(auth["bare_python"].rate / auth["files"].rate, 3)
        if "bare_in_radbill" in auth and "bare_python" in auth and auth["bare_python"].rate:
            r["auth_bare_in_radbill_vs_bare_python"] = round(auth["bare_in_radbill"].rate / auth["bare_python"].rate, 3)
        if "radbill" in acct and "stock_sql" in acct and acct["stock_sql"].rate:
            r["acct_radbill_vs_stock_sql"] = round(acct["radbill"].rate / acct["stock_sql"].rate, 3)
        out[gen] = r
    return out


def _goal(value: float, target: float, above: bool) -> str:
    return "met" if (value >= target if above else value < target) else "MISSED"


def verdicts(by_generator: dict) -> list[str]:
    lines = []
    for gen, r in by_generator.items():
        lines.append(f"[{gen} generator]")
        if "auth_radbill_vs_bare_python" in r:
            v = r["auth_radbill_vs_bare_python"]
            lines.append(f"  radbill / bare-Python ceiling = {v:.3f}x (goal >= {TARGET_VS_BARE:g}x: "
                         f"{_goal(v, TARGET_VS_BARE, True)})")
        for key, label in (("auth_radbill_vs_bare_in_radbill", "radbill / its config, bare hook"),
                           ("auth_bare_in_radbill_vs_bare_python", "its config, bare hook / bare"),
                           ("auth_radbill_vs_files", "radbill / rlm_files"),
                           ("auth_radbill_vs_stock_sql", "radbill / stock rlm_sql"),
                           ("auth_bare_python_vs_files", "bare-Python / rlm_files")):
            if key in r:
                lines.append(f"  {label:<29} = {r[key]:.3f}x")
        if "auth_radbill_p99_ms" in r:
            v = r["auth_radbill_p99_ms"]
            lines.append(f"  radbill auth p99              = {v:.2f} ms (goal < {TARGET_P99_MS:g} ms: "
                         f"{_goal(v, TARGET_P99_MS, False)})")
        if "acct_radbill_vs_stock_sql" in r:
            v = r["acct_radbill_vs_stock_sql"]
            lines.append(f"  accounting radbill / stock    = {v:.3f}x (goal >= {TARGET_ACCT_VS_SQL:g}x: "
                         f"{_goal(v, TARGET_ACCT_VS_SQL, True)})")
    return lines


def generator_share(rows) -> list[str]:
    """The generator's CPU as a share of the machine, per row: what the servers could not use."""
    cores = os.cpu_count() or 1
    return [f"generator CPU: {f.test} {f.server} ({f.generator}): {f.generator_cpu:.2f} of {cores} cores "
            f"({100 * f.generator_cpu / cores:.0f} % of the machine; {f.generator_capacity:,.0f} answers per "
            f"generator CPU-second)" for f in rows]
