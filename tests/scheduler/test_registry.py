"""The scheduler's one declarative list: every job and outbox kind is declared once, and loads."""

from __future__ import annotations

import asyncio
import importlib
import re

import pytest

from radbill.services import outbox
from scheduler import registry


def test_job_names_are_unique_and_every_job_is_a_coroutine():
    names = [spec.name for spec in registry.JOBS]
    assert len(names) == len(set(names))
    assert {"outbox.dispatch", "billing.generate", "sms.reminders", "payments.reconcile",
            "backups.daily"} <= set(names)
    for spec in registry.JOBS:
        assert asyncio.iscoroutinefunction(spec.run), spec.name
        assert spec.trigger in ("cron", "interval"), spec.name


def test_every_declared_outbox_kind_has_its_handler_after_loading():
    handlers = registry.load_outbox_handlers()
    for kind, module in registry.OUTBOX_HANDLERS.items():
        assert handlers[kind].__module__ == module, kind


async def test_every_kind_the_outbox_accepts_is_declared_with_its_handler(db):
    # a kind the database accepts but the registry does not load waits forever in production: the webhook
    # handler was imported only by its tests until this check (the scheduler never delivered a webhook)
    check = await db.fetchval("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'outbox_kind_check'")
    accepted = set(re.findall(r"'(\w+)'::text", check))
    assert accepted and accepted == set(registry.OUTBOX_HANDLERS)


def test_a_declared_kind_nobody_registers_fails_at_start(monkeypatch):
    monkeypatch.setitem(registry.OUTBOX_HANDLERS, "nobody", "radbill.services.outbox")
    with pytest.raises(RuntimeError, match="nobody"):
        registry.load_outbox_handlers()
    assert "nobody" not in outbox.HANDLERS


def test_job_modules_import_on_their_own_in_any_order():
    # before the registry, billing_jobs/ops_jobs imported scheduler.jobs under TYPE_CHECKING only, because
    # scheduler.jobs imported them mid-file: each must now import cleanly by itself
    for name in ("scheduler.billing_jobs", "scheduler.ops_jobs", "scheduler.payment_jobs", "scheduler.sms_jobs",
                 "scheduler.jobs", "scheduler.app"):
        assert importlib.import_module(name)
