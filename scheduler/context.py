"""What every scheduled job is given and how it is declared. Job modules import these at run time; nothing
here imports a job module, so scheduler.registry can import all of them without a cycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from radbill.services import outbox


@dataclass(frozen=True)
class JobContext:
    pool: asyncpg.Pool
    dispatch: outbox.DispatchSettings


@dataclass(frozen=True)
class JobSpec:
    """`name` is the job id and its advisory-lock key; `trigger` and `trigger_args` go to APScheduler's add_job
    (e.g. 'interval', {'seconds': 1} or 'cron', {'hour': 0, 'minute': 5, 'timezone': 'UTC'})."""

    name: str
    run: Callable[[JobContext], Awaitable[Any]]
    trigger: str
    trigger_args: dict = field(default_factory=dict)
