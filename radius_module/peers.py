"""Other RADIUS nodes on the same database (`radbill radius`): what the open-session tracker learns from them.

Every node folds the accounting journal (one at a time: the fold's advisory lock), and the fold's result feeds
the tracker of the node that ran it. A session folded by node A must count for simultaneous-use on node B too,
so a fold that moved rows while another node is alive also writes them to radacct_feed in the same transaction,
under the fold's lock (feed ids are in commit order), and NOTIFYs; every other node applies the rows it did not
write. Nothing of this runs per packet, and a lone node writes no feed at all (one EXISTS per fold that moved rows).

Why nothing is missed: a node registers (heartbeat) before its first fold, and that first fold waits for the lock,
so every later fold by another node sees it registered; what was folded before is in radacct, which the node reads
(in the same snapshot as the feed's cursor) after that fold. A node whose own heartbeat lapsed may have been
taken for dead (peers stop writing for it): it reloads everything from radacct instead.
"""

from __future__ import annotations

import json
import os
import secrets
import socket

import psycopg

FEED_CHANNEL = "radbill_feed"
BEAT_SECONDS = 5.0
ALIVE = "30 seconds"  # a node not heard from for this long is gone: nobody writes the feed for it
LAPSED_SECONDS = 25.0  # our own heartbeat older than this (below ALIVE): peers may have stopped; reload
KEEP_FEED = "2 minutes"  # > LAPSED_SECONDS: a node that has not lapsed never finds its next rows pruned

BEAT = """
    WITH before AS (SELECT seen_at FROM radius_nodes WHERE instance = %(me)s)
    INSERT INTO radius_nodes AS n (instance, name) VALUES (%(me)s, %(name)s)
    ON CONFLICT (instance) DO UPDATE SET seen_at = now()
    RETURNING extract(epoch FROM now() - (SELECT seen_at FROM before))
"""
PEERS_ALIVE = """
    SELECT EXISTS (SELECT 1 FROM radius_nodes WHERE instance <> %s AND seen_at > now() - %s::interval)
"""
PUBLISH = "INSERT INTO radacct_feed (instance, changes) VALUES (%s, %s::jsonb)"
NOTIFY = f"SELECT pg_notify('{FEED_CHANNEL}', '')"
CURSOR = "SELECT coalesce(max(id), 0) FROM radacct_feed"
READ = "SELECT id, changes FROM radacct_feed WHERE id > %s AND instance <> %s ORDER BY id LIMIT 100"
PRUNE = ("DELETE FROM radacct_feed WHERE at < now() - %s::interval",
         "DELETE FROM radius_nodes WHERE seen_at < now() - %s::interval")
LEAVE = "DELETE FROM radius_nodes WHERE instance = %s"


def node_name() -> str:
    """The name an operator sees (RADBILL_NODE_NAME, default the host name); only for people."""
    return os.environ.get("RADBILL_NODE_NAME", "").strip()[:200] or socket.gethostname() or "radius"


class Peers:
    """This module's identity among the nodes, its heartbeat and its place in the feed."""

    def __init__(self, name: str | None = None):
        # chosen by the supervisor when it starts FreeRADIUS (its probe writes to this row: radbill/radius_probe.py)
        self.instance = os.environ.get("RADBILL_NODE_INSTANCE", "").strip()[:64] or secrets.token_hex(8)
        self.name = name or node_name()
        self.cursor = 0
        self.next_beat = 0.0
        self.next_read = 0.0  # the worker's safety-net read of the feed (a NOTIFY usually calls it sooner)

    def beat(self, conn: psycopg.Connection, now: float) -> bool:
        """Heartbeat (every BEAT_SECONDS) and prune. True when our previous beat had lapsed: reload."""
        if now < self.next_beat:
            return False
        self.next_beat = now + BEAT_SECONDS
        silent = conn.execute(BEAT, {"me": self.instance, "name": self.name}).fetchone()[0]
        for statement, keep in zip(PRUNE, (KEEP_FEED, "1 day"), strict=True):
            conn.execute(statement, (keep,))
        return silent is not None and float(silent) > LAPSED_SECONDS

    def register(self, conn: psycopg.Connection, now: float) -> None:
        self.next_beat = 0.0
        self.beat(conn, now)

    def publish(self, conn: psycopg.Connection, rows: list) -> None:
        """Inside the fold's transaction: hand what it changed to the other nodes, if any is alive."""
        if rows and conn.execute(PEERS_ALIVE, (self.instance, ALIVE)).fetchone()[0]:
            conn.execute(PUBLISH, (self.instance, json.dumps([list(r) for r in rows])))
            conn.execute(NOTIFY)

    def reset_cursor(self, conn: psycopg.Connection) -> None:
        """In the snapshot the tracker is reloaded from: later feed rows are what that reload cannot know."""
        self.cursor = conn.execute(CURSOR).fetchone()[0]

    def read(self, conn: psycopg.Connection) -> list[list]:
        """The rows other nodes folded since we last looked, in fold order."""
        out: list[list] = []
        while True:
            batch = conn.execute(READ, (self.cursor, self.instance)).fetchall()
            for feed_id, changes in batch:
                out.extend(changes)
                self.cursor = feed_id
            if len(batch) < 100:
                return out

    def leave(self, conn: psycopg.Connection) -> None:
        conn.execute(LEAVE, (self.instance,))
