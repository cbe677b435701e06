"""The module's one background thread: LISTEN for policy changes, reload after reconnects, fold the accounting
journal into radacct (and track sessions from it), load the post-auth log spooled by linelog, and write queued
outbox rows in batches. Hooks only append to a queue; they never wait."""

from __future__ import annotations

import gc
import heapq
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from radbill import clock as radbill_clock
from radbill.policy import Request, Speeds, decide
from radius_module import spool
from radius_module.acct_spool import AcctSpool
from radius_module.peers import BEAT_SECONDS, FEED_CHANNEL, Peers
from radius_module.sessions import OpenSessions, load_open_sessions, octets_before_windows
from radius_module.snapshot import POLICY_QUERY, PolicySnapshot, gc_paused, rows_from_records, rows_streamed
from radius_module.spool import Spool

log = logging.getLogger("radbill.radius")

CHANNEL = "radbill_policy"
ACCT_CHANNEL = "radbill_accounting"  # NOTIFYed by a Start/Stop/On/Off while the worker is idle (migration 0012)
POLL_SECONDS = 0.1  # fold and flush at least this often, woken or not (the safety net for a missed wake-up)
# Under load (packets came in while the last fold ran) the worker waits FOLD_IDLE_RATIO times as long as that
# fold took (at most POLL_SECONDS) before the next, so folding costs Postgres at most ~1/10 of its time: measured,
# a fold every 10 ms under bench-radius's accounting load halved the accounting rate (each fold ANALYZEs its batch
# and replans). A wake-up into an emptied journal folds at once.
FOLD_IDLE_RATIO = 9
JOURNAL_WAITING = "SELECT EXISTS (SELECT 1 FROM radacct_journal)"
WAKE_ME = "UPDATE radacct_fold_state SET worker_idle = true WHERE NOT worker_idle"
POSTAUTH_COPY = ("COPY radpostauth (username, reply, reason, calledstationid, callingstationid, nasipaddress, authdate)"
                 " FROM STDIN")
FOLD_BATCH = 5000
FOLD_QUERY = """
    SELECT status, username, acctuniqueid, host(nasipaddress), acctsessionid, host(framedipaddress), callingstationid,
           inputoctets + outputoctets
      FROM radbill_fold_accounting(%s, %s)
"""
# the services' enqueue (radbill.services.outbox_queue): one dedupe/re-arm rule, in SQL (migration 0014), so a
# disconnect the service already finished (failed, or ACKed by a router that kept the session) is armed again
OUTBOX_ENQUEUE = "SELECT radbill_enqueue(%s, (SELECT operator_id FROM customers WHERE username = %s), %s::jsonb, %s)"
# the policy view takes "now" from radbill.now (radbill_now()), so its windows follow the worker's clock; JIT off:
# compiling the view's plan took 2.3 s of a 2.6 s load of 10,000 customers (bench/snapshot.py)
SET_POLICY_NOW = "SELECT set_config('radbill.now', %s, true), set_config('jit', 'off', true)"
PEER_FOLDING = 0.01  # seconds between tries while another node folds
# RADBILL_ACCT_WRITE=spool: how often the worker looks at the accounting spool (a stat) between folds; a Start
# reaches the simultaneous-use count within about this long (no NOTIFY comes from a file)
SPOOL_POLL = 0.02
LOAD_BATCH = 5000  # rows per fetch of the full load's server-side cursor
WINDOW_BATCH = 1000  # users refreshed per loop turn at a boundary (~40 ms each), so folding never waits long


def journal_waiting_or_wake_me(conn: psycopg.Connection) -> bool:
    """After a fold: True if packets wait in the journal (they sent no wake-up: the fold had marked the worker
    busy); otherwise ask the journal's trigger for a NOTIFY, then look once more, so a packet committed in
    between is either seen here or wakes us (one that commits during these two statements waits for the poll)."""
    if conn.execute(JOURNAL_WAITING).fetchone()[0]:
        return True
    conn.execute(WAKE_ME)
    return conn.execute(JOURNAL_WAITING).fetchone()[0]


class Worker(threading.Thread):
    """Keeps `snapshot` and `sessions` in step with Postgres; loads the post-auth spool; drains `outbox`."""

    def __init__(self, url: str, snapshot: PolicySnapshot, sessions: OpenSessions, spool: Spool | None = None,
                 on_accounting: Callable[[list[tuple]], None] | None = None,
                 clock: Callable[[], datetime] = radbill_clock.now,
                 on_peer_accounting: Callable[[list], None] | None = None, acct_spool: AcctSpool | None = None):
        super().__init__(name="radbill-worker", daemon=True)
        self.url = url
        self.snapshot = snapshot
        self.sessions = sessions
        self.spool = spool
        self.acct_spool = acct_spool  # RADBILL_ACCT_WRITE=spool: loaded into the journal before every fold
        self.on_accounting = on_accounting
        self.on_peer_accounting = on_peer_accounting  # what other nodes folded: tracked, never enforced again
        self.peers = Peers()
        self.rotated_at = 0.0
        self.outbox: deque[tuple] = deque()
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.clock = clock
        # data-cap boundaries: a min-heap of (window end, n, usernames), one entry per window end a full load
        # found (a million customers share a few thousand ends) and one per refreshed user; _resets_at holds each
        # user's live end, so an entry superseded by a later refresh is skipped when it comes up
        self._resets: list[tuple[datetime, int, list[str]]] = []
        self._resets_at: dict[str, datetime] = {}
        self._reset_order = itertools.count()  # ties on the window end never compare the lists

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
                if self.acct_spool is not None:  # the waiting file's name dates the wait (/healthz)
                    try:
                        self.acct_spool.rotate()
                    except OSError as err:
                        log.warning("radbill could not take the accounting spool over: %s", err)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _serve(self, conn: psycopg.Connection) -> None:
        for channel in (CHANNEL, ACCT_CHANNEL, FEED_CHANNEL):
            conn.execute(f"LISTEN {channel}")  # before the reload, so no change falls between the two
        self.peers.register(conn, time.monotonic())  # before the fold: other nodes' later folds feed us
        # everything acknowledged so far reaches radacct before the reload reads it; wait=True: a fold another
        # node is running commits first, so the reload sees it
        self.load_accounting(conn)
        self.fold(conn, track=False, wait=True)
        self.reload_all(conn)
        self.connected.set()
        log.info("radbill snapshot loaded: %d customers, %d open sessions", len(self.snapshot), len(self.sessions))
        journal_waiting, last_fold, next_fold = False, 0.0, 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            timeout = next_fold - now if journal_waiting else last_fold + POLL_SECONDS - now
            if self.acct_spool is not None:
                timeout = min(timeout, SPOOL_POLL)
            changed, woken, fed = self._notifications(conn, max(0.0, timeout))
            if changed:
                self.refresh(conn, changed)
            self.follow_peers(conn, fed)
            self.refresh_windows(conn)
            journal_waiting |= woken or (self.acct_spool is not None and self.acct_spool.waiting())
            now = time.monotonic()
            if (journal_waiting and now >= next_fold) or now >= last_fold + POLL_SECONDS:
                self.load_accounting(conn)
                moved = self.fold(conn)
                journal_waiting = journal_waiting_or_wake_me(conn)
                last_fold = time.monotonic()
                # lines spooled while this fold ran count as waiting rows: the same pacing under load
                busy = moved and (journal_waiting or (self.acct_spool is not None and self.acct_spool.waiting()))
                # nothing moved but rows wait: another node holds the fold's lock; try again soon, not in a spin
                next_fold = last_fold + (min(POLL_SECONDS, FOLD_IDLE_RATIO * (last_fold - now)) if busy
                                         else PEER_FOLDING if journal_waiting and not moved else 0.0)
                self.flush(conn)

    @staticmethod
    def _notifications(conn: psycopg.Connection, timeout: float) -> tuple[set[str], bool, bool]:
        """Wait up to `timeout` for notifications; the usernames whose policy changed, whether the accounting
        journal woke us, and whether another node fed us. notifies() holds the connection lock: collect, leave
        it, then query."""
        got = list(conn.notifies(timeout=timeout, stop_after=1))
        if got:
            got += conn.notifies(timeout=0, stop_after=10000)
        return ({n.payload for n in got if n.channel == CHANNEL}, any(n.channel == ACCT_CHANNEL for n in got),
                any(n.channel == FEED_CHANNEL for n in got))

    def policy_rows(self, conn: psycopg.Connection, usernames: Iterable[str]) -> list:
        """The given users' rows of the policy view as of the worker's clock."""
        with conn.transaction():
            conn.execute(SET_POLICY_NOW, (self.clock().isoformat(),))
            with conn.cursor(row_factory=dict_row) as cur:
                return rows_from_records(cur.execute(POLICY_QUERY + " WHERE username = ANY(%s)", (list(usernames),)))

    def all_policy_rows(self, conn: psycopg.Connection) -> dict:
        """username -> row for every row of the policy view as of the worker's clock."""
        with conn.transaction():
            conn.execute(SET_POLICY_NOW, (self.clock().isoformat(),))
            # a server-side cursor: the whole view never sits in one client-side result as well as in the
            # rows (at 1,000,000 customers that result alone held ~0.5 GB, and the heap kept it)
            # (planned for all its rows, as the client-side query was, not for the first 10 %)
            conn.execute("SELECT set_config('cursor_tuple_fraction', '1', true)")
            with conn.cursor("radbill_policy_load") as cur:  # tuples: the builder reads by position
                cur.execute(POLICY_QUERY)
                return rows_streamed(cur, LOAD_BATCH)

    def follow_peers(self, conn: psycopg.Connection, fed: bool = False) -> None:
        """Heartbeat, and track what other nodes folded (a lapsed heartbeat: reload everything instead). The feed
        is read when a node NOTIFYs that it wrote some, and at every heartbeat in case a wake-up was missed, so a
        lone node does not query it ten times a second."""
        now = time.monotonic()
        if self.peers.beat(conn, now):
            log.warning("radbill worker was silent too long for the other RADIUS nodes; reloading")
            self.fold(conn, track=False, wait=True)  # a fold that did not count us yet commits first
            self.reload_all(conn)
            return
        if not fed and now < self.peers.next_read:
            return
        self.peers.next_read = now + BEAT_SECONDS
        rows = self.peers.read(conn)
        if rows and self.on_peer_accounting is not None:
            self.on_peer_accounting(rows)

    def reload_all(self, conn: psycopg.Connection) -> None:
        with gc_paused():
            # one snapshot for the feed's cursor and what is loaded: a peer's fold is in one or the other, never both
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                self.peers.reset_cursor(conn)
                rows = self.all_policy_rows(conn)
                sessions = load_open_sessions(conn)
            before = octets_before_windows(sessions, rows)
            # the two swaps back to back: a login between them pairs new rows with the old sessions' counters
            self.snapshot.replace_all(rows)
            self.sessions.replace_all(sessions, before)
            self._schedule_all_resets(rows.values())
            # Out of the cyclic collector's walks for good: a full collection visits every tracked object with the
            # GIL held, so with a million rows each one stopped every Access-Request for ~0.3-0.4 s (bench/
            # snapshot_gc.py), and the first ones come right after the load, when the rows leave generation 0.
            # The rows hold no cycles: reference counting frees them when a later reload replaces them.
            gc.freeze()

    def _schedule_all_resets(self, rows: Iterable) -> None:
        """_schedule_resets for a full load, into empty structures: one heap entry per window end."""
        now, ends, self._resets_at = self.clock(), {}, {}
        for row in rows:  # the one Python step per row; the rest is per window end
            ends.setdefault(row.usage_resets_at, []).append(row.username)
        ends.pop(None, None)
        self._resets = [(at, next(self._reset_order), usernames) for at, usernames in ends.items() if at > now]
        for at, _, usernames in self._resets:
            self._resets_at.update(dict.fromkeys(usernames, at))
        heapq.heapify(self._resets)

    def refresh(self, conn: psycopg.Connection, usernames: set[str], topups: bool = True) -> None:
        if "*" in usernames:
            self.reload_all(conn)
            return
        # a top-up raises the thresholds: a throttled live session gets the faster rate by CoA (topups=False at a
        # window boundary, where refresh_windows sends the one CoA for the new window)
        before = {u: (row.topup_bytes, self._speeds(u)) for u in usernames
                  if topups and (row := self.snapshot.get(u)) is not None and row.tiers}
        rows = self.policy_rows(conn, usernames)
        self.snapshot.update(usernames, rows)
        self.sessions.forget_closed_octets(usernames)
        self._schedule_resets(rows)
        for username, (topup_bytes, rate) in before.items():
            row = self.snapshot.get(username)
            if row is not None and row.topup_bytes != topup_bytes:
                after = self._speeds(username)
                if rate is not None and after is not None and after != rate:
                    self._change_rate(username, after, "data_topup", f"{row.topup_bytes}")

    def _schedule_resets(self, rows: Iterable) -> None:
        now = self.clock()
        for row in rows:
            at = row.usage_resets_at
            # a window that has already ended (a clock behind the database's) is not re-armed: no busy loop
            if at is not None and at > now and self._resets_at.get(row.username) != at:
                self._resets_at[row.username] = at
                heapq.heappush(self._resets, (at, next(self._reset_order), [row.username]))

    def refresh_windows(self, conn: psycopg.Connection) -> int:
        """At a data-cap boundary, reload the users whose window ended: usage starts again from the new
        window (their open sessions count only from here on) and a throttled session gets its speed back."""
        now, due = self.clock(), []
        while self._resets and self._resets[0][0] <= now and len(due) < WINDOW_BATCH:
            at, _, usernames = heapq.heappop(self._resets)
            room = WINDOW_BATCH - len(due)
            if len(usernames) > room:  # the rest of this window end's users wait for the next turn
                heapq.heappush(self._resets, (at, next(self._reset_order), usernames[room:]))
                usernames = usernames[:room]
            for username in usernames:
                if self._resets_at.get(username) == at:
                    del self._resets_at[username]
                    due.append(username)
        if not due:
            return 0
        rates = {u: self._speeds(u) for u in due}
        self.sessions.start_window(due)
        self.refresh(conn, set(due), topups=False)
        for username, before in rates.items():
            after = self._speeds(username)
            if before is not None and after is not None and after != before:
                self._change_rate(username, after, "data_cap_reset")
        log.info("radbill data-cap window ended for %d customers; usage counts from zero", len(due))
        return len(due)

    def _speeds(self, username: str) -> Speeds | None:
        """The rate a capped customer's login would get now (decide() is the one rule), None if no login."""
        row = self.snapshot.get(username)
        if row is None or not row.tiers:
            return None
        row = replace(row, usage_bytes=row.usage_bytes + self.sessions.window_octets(username))
        decision = decide(row, Request(username=username), self.clock(), explain=False)
        return decision.speeds if decision.accept else None

    def _change_rate(self, username: str, speeds: Speeds, reason: str, extra_key: str = "") -> None:
        """A CoA with the new rate for each open session (a router keeps a live session's throttled rate until
        told otherwise): at a window boundary (data_cap_reset) or after a top-up (data_topup). The speeds are
        vendor-neutral; the dispatcher writes them in the session's router's attributes."""
        resets_at = self.snapshot.get(username).usage_resets_at
        for uid, s in self.sessions.of_user(username):
            payload = {"username": username, "acct_session_id": s.acct_session_id, "acct_unique_id": uid,
                       "nas_ip": s.nas_ip, "framed_ip": s.framed_ip, "reason": reason, "speeds": asdict(speeds)}
            key = f"coa:{reason}:{uid}:{resets_at.isoformat()}" + (f":{extra_key}" if extra_key else "")
            self.queue_outbox("coa", username, payload, key)

    def fold(self, conn: psycopg.Connection, track: bool = True, wait: bool = False,
             deadline: float | None = None) -> int:
        """Move the accounting journal into radacct (each batch one transaction) and track what moved. Stops
        early when the worker is stopping (the shutdown fold, with wait=True, takes over) or at `deadline`."""
        folded = 0
        while True:
            with conn.transaction():  # the fold's lock is held until this commits: the feed keeps fold order
                rows = conn.execute(FOLD_QUERY, (FOLD_BATCH, wait)).fetchall()
                self.peers.publish(conn, rows)
            folded += len(rows)
            if rows and track and self.on_accounting is not None:
                self.on_accounting(rows)
            if len(rows) < FOLD_BATCH or (self.stopping.is_set() and not wait):
                return folded
            if deadline is not None and time.monotonic() > deadline:
                log.warning("radbill stopped folding with accounting still in the journal (kept for the next start)")
                return folded

    def load_accounting(self, conn: psycopg.Connection) -> int:
        """The accounting spool's finished lines into the journal (nothing to do with RADBILL_ACCT_WRITE=sql)."""
        return self.acct_spool.load(conn) if self.acct_spool is not None else 0

    def flush(self, conn: psycopg.Connection, everything: bool = False) -> None:
        """Load the post-auth files linelog has finished with, then write the queued outbox rows. A file is
        deleted, and an outbox row leaves the queue, only after it is written: on failure, after reconnecting."""
        if self.spool is not None:
            now = time.monotonic()
            if everything or now - self.rotated_at >= 0.25:
                self.rotated_at = now
                self.spool.rotate()
            for path in self.spool.ready(everything):
                self.load_postauth(conn, path)
        while self.outbox:
            batch = [self.outbox[i] for i in range(min(len(self.outbox), 200))]
            with conn.cursor() as cur:
                cur.executemany(OUTBOX_ENQUEUE, [(kind, username, json.dumps(payload), key)
                                                for kind, username, payload, key in batch])
            for _ in batch:
                self.outbox.popleft()

    def load_postauth(self, conn: psycopg.Connection, path: Path) -> None:
        """One spooled file into radpostauth: streamed to Postgres and decoded there (no per-line Python work
        while FreeRADIUS's threads wait for the GIL); a file the fast path refuses is parsed line by line."""
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(spool.STAGE_SQL)
                with cur.copy(spool.COPY_SQL) as copy, open(path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        copy.write(chunk)
                lines = cur.rowcount
                cur.execute(spool.LOAD_SQL)
                bad = [f"{lines - cur.rowcount} lines with an impossible time"] if cur.rowcount != lines else []
        except psycopg.DataError as exc:  # a line COPY or a cast cannot read: parse the file line by line
            log.warning("radbill post-auth log %s needs the slow path: %s", path, exc)
            rows, bad = Spool.rows(path)
            if rows:
                with conn.cursor() as cur, cur.copy(POSTAUTH_COPY) as copy:  # one statement: all or nothing
                    for row in rows:
                        copy.write_row(row)
        if bad:
            log.warning("radbill skipped malformed post-auth log lines in %s, e.g. %.200r", path, bad[0])
        path.unlink()

    def queue_outbox(self, kind: str, username: str, payload: dict, dedupe_key: str) -> None:
        self.outbox.append((kind, username, payload, dedupe_key))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop, then write what is still queued (FreeRADIUS calls detach on SIGTERM)."""
        self.stopping.set()
        self.join(timeout)
        # FreeRADIUS has stopped its request threads before detach: nothing writes the spool or the journal now
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
                self.load_accounting(conn)
                self.fold(conn, track=False, wait=True, deadline=time.monotonic() + 10)
                self.flush(conn, everything=True)
                self.peers.leave(conn)  # the others stop writing the feed for us now, not in ALIVE seconds
        except Exception as exc:
            log.error("radbill could not write %d outbox rows at shutdown (the accounting journal and the post-auth "
                      "log are kept for the next start): %s", len(self.outbox), exc)
