"""The module's one background thread: LISTEN for policy changes, reload after reconnects, and write the
queued post-auth log and outbox rows in batches. Hooks only append to queues; they never wait on it."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime

import psycopg
from psycopg.rows import dict_row

from radius_module.sessions import OpenSessions, Session
from radius_module.snapshot import POLICY_QUERY, PolicySnapshot, row_from_record

log = logging.getLogger("radbill.radius")

CHANNEL = "radbill_policy"
OPEN_SESSIONS_QUERY = """
    SELECT acctuniqueid, username, host(nasipaddress) AS nas_ip, acctsessionid, host(framedipaddress) AS framed_ip,
           coalesce(acctupdatetime, acctstarttime, now()) AS last_seen,
           coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0) AS octets
      FROM radacct WHERE acctstoptime IS NULL AND username IS NOT NULL
"""
POSTAUTH_COPY = ("COPY radpostauth (username, reply, reason, calledstationid, callingstationid, nasipaddress, authdate)"
                 " FROM STDIN")
OUTBOX_INSERT = """
    INSERT INTO outbox (kind, operator_id, payload, dedupe_key)
    VALUES (%s, (SELECT operator_id FROM customers WHERE username = %s), %s, %s)
    ON CONFLICT (dedupe_key) DO NOTHING
"""


class Worker(threading.Thread):
    """Keeps `snapshot` and `sessions` in step with Postgres; drains `postauth` and `outbox` queues."""

    def __init__(self, url: str, snapshot: PolicySnapshot, sessions: OpenSessions):
        super().__init__(name="radbill-worker", daemon=True)
        self.url = url
        self.snapshot = snapshot
        self.sessions = sessions
        # bounded so a long database outage cannot eat the server's memory; what overflows is counted and logged
        self.postauth: deque[tuple] = deque()
        self.outbox: deque[tuple] = deque()
        self.max_queued = 500_000
        self.dropped = 0
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.last_change_applied: float | None = None

    def run(self) -> None:
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                     application_name="radbill-radius") as conn:
                    self._serve(conn)
                backoff = 0.5
            except Exception as exc:  # any failure: keep answering from memory, reconnect, reload
                self.connected.clear()
                if self.stopping.is_set():
                    break
                log.warning("radbill worker lost the database (%s); retrying in %.1fs", exc, backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _serve(self, conn: psycopg.Connection) -> None:
        conn.execute(f"LISTEN {CHANNEL}")  # before the reload, so no change falls between the two
        self.reload_all(conn)
        self.connected.set()
        log.info("radbill snapshot loaded: %d customers, %d open sessions", len(self.snapshot), len(self.sessions))
        while not self.stopping.is_set():
            # notifies() holds the connection lock while it runs: collect, leave the generator, then query
            pending = {n.payload for n in conn.notifies(timeout=0.25, stop_after=1)}
            if pending:
                pending |= {n.payload for n in conn.notifies(timeout=0, stop_after=10000)}
                self.refresh(conn, pending)
            self.flush(conn)

    def reload_all(self, conn: psycopg.Connection) -> None:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = [row_from_record(r) for r in cur.execute(POLICY_QUERY)]
            sessions = {
                r["acctuniqueid"]: Session(r["username"], r["nas_ip"], r["acctsessionid"], r["framed_ip"],
                                           r["last_seen"], r["octets"])
                for r in cur.execute(OPEN_SESSIONS_QUERY)
            }
        self.snapshot.replace_all(rows)
        self.sessions.replace_all(sessions)

    def refresh(self, conn: psycopg.Connection, usernames: set[str]) -> None:
        if "*" in usernames:
            self.reload_all(conn)
        else:
            with conn.cursor(row_factory=dict_row) as cur:
                rows = [row_from_record(r) for r in
                        cur.execute(POLICY_QUERY + " WHERE username = ANY(%s)", (list(usernames),))]
            self.snapshot.update(usernames, rows)
            self.sessions.forget_closed_octets(usernames)
        self.last_change_applied = time.monotonic()

    def flush(self, conn: psycopg.Connection) -> None:
        """Write everything queued, in small batches (each holds the GIL briefly, so hooks are not kept waiting).
        Rows leave the queue only after their batch is written: on failure they are written after reconnecting."""
        while self.postauth:
            batch = [self.postauth[i] for i in range(min(len(self.postauth), 500))]
            with conn.cursor() as cur, cur.copy(POSTAUTH_COPY) as copy:
                for row in batch:
                    copy.write_row(row)
            for _ in batch:
                self.postauth.popleft()
        while self.outbox:
            batch = [self.outbox[i] for i in range(min(len(self.outbox), 200))]
            with conn.cursor() as cur:
                cur.executemany(OUTBOX_INSERT, [(kind, username, json.dumps(payload), key)
                                                for kind, username, payload, key in batch])
            for _ in batch:
                self.outbox.popleft()
        if self.dropped:
            log.error("radbill dropped %d post-auth log rows while the database was unreachable", self.dropped)
            self.dropped = 0

    def queue_postauth(self, username: str, reply: str, reason: str, called: str | None, calling: str | None,
                       nas_ip: str | None) -> None:
        if len(self.postauth) >= self.max_queued:
            self.dropped += 1  # the log is not worth the server's memory; decisions never depend on it
            return
        self.postauth.append((username, reply, reason, called, calling, nas_ip, datetime.now(UTC)))

    def queue_outbox(self, kind: str, username: str, payload: dict, dedupe_key: str) -> None:
        self.outbox.append((kind, username, payload, dedupe_key))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop, then write what is still queued (FreeRADIUS calls detach on SIGTERM)."""
        self.stopping.set()
        self.join(timeout)
        if self.postauth or self.outbox:
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
                    self.flush(conn)
            except Exception as exc:
                log.error("radbill could not write %d post-auth and %d outbox rows at shutdown: %s",
                          len(self.postauth), len(self.outbox), exc)
