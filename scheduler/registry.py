"""Everything the scheduler runs, in one declarative list: the jobs with their triggers, and the modules whose
outbox handlers the dispatcher needs. A new job is one line in JOBS; a new outbox kind is one line in
OUTBOX_HANDLERS. Each job's `run` is a thin wrapper over one idempotent radbill.services function (safe to run
twice: a missed or doubled run is harmless)."""

from __future__ import annotations

import importlib
import os

from radbill.config import EnvReader
from radbill.services import outbox
from scheduler import (
    api_jobs,
    billing_jobs,
    dashboard_jobs,
    ops_jobs,
    payment_jobs,
    radacct_jobs,
    sms_jobs,
    webhook_jobs,
)
from scheduler.context import JobContext, JobSpec

OUTBOX_JOB = "outbox.dispatch"


async def dispatch_outbox(ctx: JobContext) -> int:
    return await outbox.drain(ctx.pool, ctx.dispatch)


def outbox_poll_seconds() -> float:
    """The outbox's safety-net poll (RADBILL_OUTBOX_POLL_SECONDS, default 1): a NOTIFY on each enqueue starts a
    dispatch at once; the poll catches rows whose retry time came and any NOTIFY missed while LISTEN was down."""
    return EnvReader(os.environ).number("RADBILL_OUTBOX_POLL_SECONDS", 1.0, 0.2, 300.0)


# The hourly billing jobs run at different minutes: fixed-day periods (and prepaid issue dates, due days before
# them) start at local midnight, a different UTC hour per operator time zone; the waiting package changes switch
# just before the bill run so the switch and the new period's bill come together.
JOBS: list[JobSpec] = [
    JobSpec(OUTBOX_JOB, dispatch_outbox, "interval", {"seconds": outbox_poll_seconds()}),
    JobSpec("billing.package_changes", billing_jobs.apply_waiting_package_changes, "cron",
            {"minute": 1, "timezone": "UTC"}),
    JobSpec("billing.generate", billing_jobs.generate_due_bills, "cron", {"minute": 5, "timezone": "UTC"}),
    JobSpec("billing.suspend_overdue", billing_jobs.suspend_overdue, "cron", {"minute": 20, "timezone": "UTC"}),
    # a reminder slot is queued once (dedupe key); operators outside their sending hours are skipped
    JobSpec("sms.reminders", sms_jobs.queue_sms_reminders, "cron", {"minute": "*/15", "timezone": "UTC"}),
    # a pass over open payment intents is cheap when nothing is due (an indexed scan)
    JobSpec("payments.reconcile", payment_jobs.reconcile_payments, "interval", {"seconds": 60}),
    JobSpec("backups.daily", ops_jobs.daily_backup, "cron",
            {"hour": ops_jobs.backup_hour(), "minute": 0, "timezone": "UTC"}),
    JobSpec("backups.check", ops_jobs.check_backups, "cron", {"minute": 17, "timezone": "UTC"}),
    JobSpec("radius.check_nodes", ops_jobs.check_radius_nodes, "interval", {"seconds": 60}),
    JobSpec("api.idempotency_purge", api_jobs.purge_idempotency_keys, "cron", {"minute": 41, "timezone": "UTC"}),
    JobSpec("webhooks.purge", webhook_jobs.purge_webhook_deliveries, "cron", {"minute": 47, "timezone": "UTC"}),
    # radacct: the coming months made ahead hourly (a scheduler down at midnight still has the next month in
    # time); the archive at 02:30 in Dhaka, when detaching a month's partition meets the fewest sessions
    JobSpec("radacct.partitions", radacct_jobs.prepare_partitions, "cron", {"minute": 41, "timezone": "UTC"}),
    JobSpec("radacct.archive", radacct_jobs.archive_sessions, "cron", {"hour": 20, "minute": 30, "timezone": "UTC"}),
    # the dashboard's counters: the deltas the triggers appended, folded (a bill run's are one row per operator)
    JobSpec("dashboard.compact", dashboard_jobs.compact_counters, "interval", {"minutes": 5}),
    JobSpec("dashboard.online", dashboard_jobs.count_online, "interval", {"seconds": 60}),
]

# outbox kind -> the module that declares its handler with @outbox.register(kind)
OUTBOX_HANDLERS: dict[str, str] = {
    "disconnect": "radbill.services.outbox",
    "coa": "radbill.services.outbox",
    "sms": "radbill.services.sms",
    # an event SMS whose operator chose WhatsApp moves to a whatsapp row when the sms handler takes it
    "whatsapp": "radbill.services.whatsapp",
    "webhook": "radbill.services.webhook_delivery",
}


def load_outbox_handlers() -> dict[str, outbox.Handler]:
    """Import every handler module named above and check it declared its kinds, so a typo or a forgotten
    registration fails when the scheduler starts rather than when the first row of that kind waits forever."""
    for module in sorted(set(OUTBOX_HANDLERS.values())):
        importlib.import_module(module)
    missing = sorted(kind for kind in OUTBOX_HANDLERS if kind not in outbox.HANDLERS)
    if missing:
        raise RuntimeError(f"outbox kinds without a handler: {', '.join(missing)}")
    return outbox.HANDLERS
