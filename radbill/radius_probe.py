"""The supervisor asks its own FreeRADIUS, every few seconds, whether it answers, and writes what it saw into the
node's radius_nodes row (answered_at, the round trip). /healthz, `radbill status` and the System page read it.

Why the supervisor and not the module: the module's worker thread inside FreeRADIUS beats (seen_at) while every
request thread is stuck or the process is stopped between beats, so only a question from outside tells whether
routers get answers. The question is the Status-Server /healthz already asks (health.radius_statistics): it is
served by the same threads as the routers' requests, costs no Python call inside FreeRADIUS, and counts nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("radbill.radius_probe")

PROBE_SECONDS = 5  # default interval (RADBILL_RADIUS_PROBE_SECONDS); health.NODE_NOT_ANSWERING is a few of these

RECORD = """
    UPDATE radius_nodes
       SET probed_at = now(),
           answered_at = CASE WHEN %(rtt)s::real IS NULL THEN answered_at ELSE now() END,
           round_trip_ms = coalesce(%(rtt)s::real, round_trip_ms)
     WHERE instance = %(instance)s
"""


def ask(port: int, secret: str, timeout: float) -> float | None:
    """Milliseconds one Status-Server to the loopback status listener took; None when nothing answered."""
    from radbill.health import HealthSettings, radius_statistics

    started = time.perf_counter()
    stats = radius_statistics(HealthSettings(status_port=port, status_secret=secret), timeout=timeout)
    return None if stats is None else round((time.perf_counter() - started) * 1000, 2)


class AnswerProbe:
    """A daemon thread: ask, record, sleep; until `stopping` is set. `instance` names the radius_nodes row of the
    FreeRADIUS running now (it changes when the supervisor restarts it)."""

    def __init__(self, database_url: str, port: int, secret: str, every: float,
                 instance: Callable[[], str | None], stopping: threading.Event):
        self.database_url, self.port, self.secret, self.every = database_url, port, secret, every
        self.instance, self.stopping = instance, stopping
        self.rounds = 0  # lets tests wait for a probe to have been recorded
        self._thread = threading.Thread(target=self._run, name="radbill-radius-probe", daemon=True)

    def start(self) -> AnswerProbe:
        self._thread.start()
        return self

    def _run(self) -> None:
        import psycopg

        conn = None
        while not self.stopping.wait(self.every):
            instance = self.instance()
            if instance is None:
                continue
            # a stuck server must not stretch the interval much: the probe waits at most one interval
            rtt = ask(self.port, self.secret, timeout=min(2.0, self.every))
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
                conn.execute(RECORD, {"rtt": rtt, "instance": instance})
                self.rounds += 1
            except Exception as exc:  # database away: FreeRADIUS keeps serving; record again when it is back
                log.warning("could not record whether FreeRADIUS answers (%s); retrying", exc)
                if conn is not None:
                    conn.close()
                conn = None
            if rtt is None:
                log.warning("FreeRADIUS did not answer a Status-Server on 127.0.0.1:%s", self.port)
        if conn is not None:
            conn.close()
