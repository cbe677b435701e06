"""`make run`'s foreground supervisor: start the processes, restart one that dies, stop all on Ctrl-C.

The database is a child like the others: when it goes away (a crash, or `pg_ctl restart` by an admin) FreeRADIUS
keeps answering from its snapshot and the Python processes reconnect, so nothing else is stopped."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("radbill.supervise")


@dataclass
class Child:
    name: str
    start: Callable[[], subprocess.Popen]
    stop: Callable[[subprocess.Popen], None]
    current: Callable[[], subprocess.Popen | None] | None = None  # for children that restart themselves
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_supervisor() -> Callable[[], None]:
    """A `preexec_fn` for a supervised child: the kernel sends it SIGTERM when the process that started it dies,
    even by SIGKILL (whose finally-blocks never run), so no FreeRADIUS/admin/portal/scheduler outlives its
    `radbill run`. Not for PostgreSQL: an orphaned cluster is adopted by the next run (runner._open_embedded).

    Linux ties the signal to the *thread* that forks: start such children from a thread that lives as long as
    the supervisor (its main thread, or a watcher thread that runs until it stops)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: between fork and exec only the call runs
    supervisor = os.getpid()

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != supervisor:  # it died before the prctl took effect: nobody will signal us
            os.kill(os.getpid(), signal.SIGTERM)

    return in_child


def terminate(process: subprocess.Popen, timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Supervisor:
    """Runs children in the foreground; SIGINT/SIGTERM stop them in reverse start order."""

    def __init__(self):
        self.children: list[Child] = []
        self._stopping = False

    def add(self, child: Child) -> None:
        self.children.append(child)

    def _request_stop(self, signum, _frame) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self._stopping = True

    def run(self, poll_interval: float = 0.5) -> int:
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        exit_code = 0
        try:
            for child in self.children:
                if child.process is None:  # a child may be handed over already running
                    log.info("starting %s", child.name)
                    child.process = child.start()
            while not self._stopping:
                for child in self.children:
                    if child.current is not None:
                        child.process = child.current() or child.process
                    code = child.process.poll()
                    if code is None:
                        continue
                    if not self._restart(child, code):
                        exit_code = 1
                        break
                time.sleep(poll_interval)
        finally:
            for child in reversed(self.children):
                if child.process is not None and child.process.poll() is None:
                    log.info("stopping %s", child.name)
                    child.stop(child.process)
        return exit_code

    def _restart(self, child: Child, code: int) -> bool:
        """Start `child` again; False when it keeps dying and everything should stop."""
        now = time.monotonic()
        child.restarts = [t for t in child.restarts if now - t < 60] + [now]
        if len(child.restarts) > 5:
            log.error("%s keeps crashing (exit %s, 5 restarts in a minute); stopping everything", child.name, code)
            self._stopping = True
            return False
        log.warning("%s exited with code %s; restarting", child.name, code)
        time.sleep(1)
        try:
            child.process = child.start()
        except Exception as exc:  # e.g. not ready in time: the next round tries again, within the limit above
            log.error("%s could not be restarted: %s", child.name, exc)
        return True
