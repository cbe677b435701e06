"""Prometheus /metrics: read at scrape time from what the processes already keep (FreeRADIUS's own counters on
its Status-Server listener, the post-auth log and accounting journal the RADIUS module loads, the outbox, SMS,
payments, job runs, backups). Nothing counts per RADIUS request in Python: the module's hot path is untouched."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import asyncpg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from radbill.health import Check

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RECENT = timedelta(minutes=5)  # radpostauth is large: only its recent rows are grouped (an index on authdate)

# FreeRADIUS-Total-* attribute (without the prefix) -> (family, label value)
RADIUS_COUNTERS = {
    "Total-Access-Requests": ("radbill_freeradius_access_requests", None),
    # not Total-Access-Accepts/-Rejects: measured on 3.2.1 they stay 0 while it accepts and rejects; results
    # and reasons come from the post-auth log instead (radbill_access_requests_recent)
    "Total-Auth-Dropped-Requests": ("radbill_freeradius_auth_problems", "dropped"),
    "Total-Auth-Duplicate-Requests": ("radbill_freeradius_auth_problems", "duplicate"),
    "Total-Auth-Malformed-Requests": ("radbill_freeradius_auth_problems", "malformed"),
    "Total-Auth-Invalid-Requests": ("radbill_freeradius_auth_problems", "invalid"),
    "Total-Accounting-Requests": ("radbill_freeradius_accounting_requests", None),
    "Total-Accounting-Responses": ("radbill_freeradius_accounting_responses", None),
    "Total-Acct-Dropped-Requests": ("radbill_freeradius_acct_problems", "dropped"),
    "Total-Acct-Duplicate-Requests": ("radbill_freeradius_acct_problems", "duplicate"),
}
HELP = {
    "radbill_freeradius_access_requests": "Access-Requests FreeRADIUS received since it started (its count "
                                          "includes the Status-Server probes of /healthz, /metrics and the "
                                          "supervisor's, radbill/radius_probe.py)",
    "radbill_freeradius_auth_problems": "Access-Requests FreeRADIUS dropped or refused, by problem",
    "radbill_freeradius_accounting_requests": "Accounting-Requests FreeRADIUS received since it started",
    "radbill_freeradius_accounting_responses": "Accounting-Responses FreeRADIUS sent since it started",
    "radbill_freeradius_acct_problems": "Accounting-Requests FreeRADIUS dropped or saw twice, by problem",
}


def radius_families(stats: dict[str, int] | None) -> list[Metric]:
    families: dict[str, CounterMetricFamily] = {}
    for attribute, (name, label) in RADIUS_COUNTERS.items():
        if stats is None or attribute not in stats:
            continue
        family = families.get(name) or families.setdefault(
            name, CounterMetricFamily(name, HELP[name], labels=["result"] if label else None))
        family.add_metric([label] if label else [], stats[attribute])
    out: list[Metric] = list(families.values())
    if stats and "Stats-Start-Time" in stats:
        # the snapshot is loaded when the server starts: this is its last full load
        start = GaugeMetricFamily("radbill_freeradius_start_time_seconds",
                                  "When FreeRADIUS (and its policy snapshot's full load) last started, Unix time")
        start.add_metric([], stats["Stats-Start-Time"])
        out.append(start)
    return out


def health_family(checks: Iterable[Check]) -> Metric:
    family = GaugeMetricFamily("radbill_health_ok", "1 when the /healthz check passes, else 0", labels=["check"])
    for check in checks:
        family.add_metric([check.name], 1.0 if check.ok else 0.0)
    return family


def _gauge(name: str, doc: str, value: float | None) -> Metric:
    family = GaugeMetricFamily(name, doc)
    family.add_metric([], float("nan") if value is None else value)
    return family


async def database_families(conn: asyncpg.Connection) -> list[Metric]:
    """Everything read from the database (the connection carries the system scope)."""
    out: list[Metric] = []
    postauth = GaugeMetricFamily("radbill_access_requests_recent", "Access-Requests logged in the last 5 minutes, "
                                 "by result and radbill's reason", labels=["result", "reason"])
    for r in await conn.fetch("SELECT coalesce(reply, '') AS reply, coalesce(reason, '') AS reason, count(*) AS n"
                              " FROM radpostauth WHERE authdate > now() - $1::interval GROUP BY 1, 2 ORDER BY 1, 2",
                              RECENT):
        postauth.add_metric([r["reply"], r["reason"]], r["n"])
    out.append(postauth)
    fold = await conn.fetchrow("SELECT count(*) AS n, extract(epoch FROM now() - min(event_time))::float AS lag"
                               " FROM radacct_journal")
    out += [_gauge("radbill_accounting_journal_waiting", "Accounting packets stored, not yet folded into radacct",
                   fold["n"]),
            _gauge("radbill_accounting_fold_lag_seconds", "Age of the oldest accounting packet not yet folded",
                   max(fold["lag"] or 0.0, 0.0)),
            _gauge("radbill_snapshot_subscribers", "Customers the RADIUS policy snapshot holds (one row each)",
                   await conn.fetchval("SELECT count(*) FROM customers"))]
    out += await _outbox(conn)
    out += await _outcomes(conn)
    out += await _jobs(conn)
    last = await conn.fetchrow("SELECT extract(epoch FROM finished_at)::float AS at, size_bytes FROM backups"
                               " WHERE ok ORDER BY finished_at DESC LIMIT 1")
    out += [_gauge("radbill_backup_last_success_timestamp_seconds", "When the newest good backup finished",
                   last["at"] if last else None),
            _gauge("radbill_backup_last_size_bytes", "Size of the newest good backup", last["size_bytes"] if last
                   else None)]
    return out


OUTBOX = """
    SELECT destination, kind, 'pending' AS state, count(*) AS n FROM outbox
     WHERE done_at IS NULL AND failed_at IS NULL GROUP BY 1, 2
    UNION ALL
    SELECT destination, kind, 'sent', count(*) FROM outbox WHERE done_at > now() - $1::interval GROUP BY 1, 2
    UNION ALL
    SELECT destination, kind, 'failed', count(*) FROM outbox WHERE failed_at > now() - $1::interval GROUP BY 1, 2
    ORDER BY 1, 2, 3
"""


async def _outbox(conn: asyncpg.Connection) -> list[Metric]:
    # the whole history would be a scan of every row ever sent: pending is all of it, sent/failed the last hour
    pending = GaugeMetricFamily("radbill_outbox_pending", "Outbox rows waiting to be sent, by lane (destination)"
                                " and kind", labels=["destination", "kind"])
    finished = GaugeMetricFamily("radbill_outbox_finished_last_hour", "Outbox rows sent or given up on in the last"
                                 " hour, by lane (destination), kind and state", labels=["destination", "kind", "state"])
    for r in await conn.fetch(OUTBOX, timedelta(hours=1)):
        if r["state"] == "pending":
            pending.add_metric([r["destination"], r["kind"]], r["n"])
        else:
            finished.add_metric([r["destination"], r["kind"], r["state"]], r["n"])
    return [pending, finished]


async def _outcomes(conn: asyncpg.Connection) -> list[Metric]:
    sms = GaugeMetricFamily("radbill_sms_messages", "SMS messages by outcome", labels=["status"])
    for r in await conn.fetch("SELECT status, count(*) AS n FROM sms_messages GROUP BY 1 ORDER BY 1"):
        sms.add_metric([r["status"]], r["n"])
    pay = GaugeMetricFamily("radbill_payment_intents", "Online payment attempts by outcome",
                            labels=["gateway", "status"])
    for r in await conn.fetch("SELECT g.kind, i.status, count(*) AS n FROM payment_intents i"
                              " JOIN payment_gateways g ON g.id = i.gateway_id GROUP BY 1, 2 ORDER BY 1, 2"):
        pay.add_metric([r["kind"], r["status"]], r["n"])
    return [sms, pay]


async def _jobs(conn: asyncpg.Connection) -> list[Metric]:
    runs = CounterMetricFamily("radbill_job_runs", "Scheduler job runs", labels=["job"])
    failures = CounterMetricFamily("radbill_job_failures", "Scheduler job runs that raised", labels=["job"])
    seconds = CounterMetricFamily("radbill_job_seconds", "Time spent in scheduler jobs", labels=["job"])
    last = GaugeMetricFamily("radbill_job_last_duration_seconds", "Duration of a job's last run", labels=["job"])
    for r in await conn.fetch("SELECT * FROM job_runs ORDER BY name"):
        runs.add_metric([r["name"]], r["runs"])
        failures.add_metric([r["name"]], r["failures"])
        seconds.add_metric([r["name"]], r["seconds_total"])
        last.add_metric([r["name"]], r["last_seconds"] or 0.0)
    return [runs, failures, seconds, last]


class _Fixed:
    """A collector that yields metric families read once for this scrape."""

    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self):
        return iter(self.families)


def render(families: list[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    return generate_latest(registry)
