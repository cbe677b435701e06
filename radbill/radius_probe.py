"""The supervisor asks its own FreeRADIUS, every few seconds, whether it answers, and writes what it saw into the
node's radius_nodes row (answered_at, the round trip). /healthz, `radbill status` and the System page read it.

Why the supervisor and not the module: the module's worker thread inside FreeRADIUS beats (seen_at) while every
request thread is stuck or the process is stopped between beats, so only a question from outside tells whether
routers get answers. The question is a Status-Server to the auth listener, the address and port routers send to,
from a loopback client of the probe's own (radbill.freeradius.PROBE_SOURCE, in the generated clients file):
asking the loopback status listener instead (raddb/sites/radbill_status) would miss an auth listener that is dead,
bound elsewhere or blocked while the status listener answers. sites/radbill answers Status-Server in
`Autz-Type Status-Server`, so it costs no Python call inside FreeRADIUS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("radbill.radius_probe")

PROBE_SECONDS = 5  # default interval (RADBILL_RADIUS_PROBE_SECONDS); health.NODE_NOT_ANSWERING is a few of these

RECORD = """
    UPDATE radius_nodes
       SET probed_at = now(),
           answered_at = CASE WHEN %(rtt)s::real IS NULL THEN answered_at ELSE now() END,
           round_trip_ms = coalesce(%(rtt)s::real, round_trip_ms)
     WHERE instance = %(instance)s
"""


@dataclass(frozen=True, slots=True)
class Target:
    """What one round asks: the radius_nodes row of the FreeRADIUS running now (it changes when the supervisor
    restarts it) and its auth listener, with the secret its clients file holds for the probe's address."""

    instance: str
    host: str
    port: int
    secret: str


def ask(target: Target, timeout: float) -> float | None:
    """Milliseconds one Status-Server to the auth listener took; None when nothing answered."""
    from radbill.freeradius import PROBE_SOURCE
    from radbill.radius.client import RadiusClient

    client = RadiusClient(target.host, target.port, target.port, target.secret, timeout=timeout, retries=1)
    started = time.perf_counter()
    try:
        client.client.bind((PROBE_SOURCE, 0))  # the probe's client address, whatever address the listener has
        answered = client.status_server()
    finally:
        client.client._CloseSocket()  # noqa: SLF001 -- pyrad keeps the bound socket open otherwise
    return round((time.perf_counter() - started) * 1000, 2) if answered else None


class AnswerProbe:
    """A daemon thread: ask, record, sleep; until `stopping` is set. `target` says what to ask each round (None:
    no FreeRADIUS running)."""

    def __init__(self, database_url: str, every: float, target: Callable[[], Target | None],
                 stopping: threading.Event):
        self.database_url, self.every, self.target, self.stopping = database_url, every, target, stopping
        self.rounds = 0  # lets tests wait for a probe to have been recorded
        self._thread = threading.Thread(target=self._run, name="radbill-radius-probe", daemon=True)

    def start(self) -> AnswerProbe:
        self._thread.start()
        return self

    def _run(self) -> None:
        import psycopg

        conn = None
        while not self.stopping.wait(self.every):
            target = self.target()
            if target is None:
                continue
            # a stuck server must not stretch the interval much: the probe waits at most one interval
            try:
                rtt = ask(target, timeout=min(2.0, self.every))
            except OSError as exc:  # e.g. an address this host does not have: not answering, and said why
                log.warning("could not ask FreeRADIUS on %s:%s (%s)", target.host, target.port, exc)
                rtt = None
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
                conn.execute(RECORD, {"rtt": rtt, "instance": target.instance})
                self.rounds += 1
            except Exception as exc:  # database away: FreeRADIUS keeps serving; record again when it is back
                log.warning("could not record whether FreeRADIUS answers (%s); retrying", exc)
                if conn is not None:
                    conn.close()
                conn = None
            if rtt is None:
                log.warning("FreeRADIUS did not answer a Status-Server on %s:%s", target.host, target.port)
        if conn is not None:
            conn.close()
