"""Open sessions per user, kept from accounting in memory so authorize never queries radacct.

The one session view: the module's tracker, its reload from radacct after a (re)connect, and `radbill explain`
all count with `OpenSessions` loaded by `load_open_sessions`, so explain says what the server does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from radbill.policy import PolicyRow, Request
from radbill.policy.usage import octets_before

# last_seen: when radbill last folded a packet of the session (heard_at, migration 0018), as the tracker stamps
# it; never the NAS's Event-Timestamp (a NAS with a wrong clock would make every session stale at once).
# The fallbacks only serve rows folded before migration 0018.
OPEN_SESSIONS_QUERY = """
    SELECT acctuniqueid, username, host(nasipaddress) AS nas_ip, acctsessionid, host(framedipaddress) AS framed_ip,
           coalesce(heard_at, acctupdatetime, acctstarttime, now()) AS last_seen,
           coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0) AS octets, acctstarttime,
           coalesce(acctupdatetime, acctstarttime) AS measured_at
      FROM radacct WHERE acctstoptime IS NULL AND username IS NOT NULL
"""


def stale_after(acct_interim_interval: int) -> timedelta:
    """Three interims missed, plus a minute: the session is gone (its NAS rebooted without Accounting-On)."""
    return timedelta(seconds=3 * acct_interim_interval + 60)


@dataclass
class Session:
    username: str
    nas_ip: str
    acct_session_id: str
    framed_ip: str | None
    last_seen: datetime
    octets: int = 0
    # the NAS's own times (start, last Interim), known only for sessions loaded from radacct: a session that began
    # in the previous data-cap window is split by these, as the policy view splits closed sessions
    started: datetime | None = None
    measured_at: datetime | None = None


class OpenSessions:
    """acctuniqueid -> Session. A session silent for longer than `stale_after` is not counted (a NAS that
    rebooted without Accounting-On must not lock its users out for ever)."""

    def __init__(self, stale_after: timedelta):
        self.stale_after = stale_after
        self._by_id: dict[str, Session] = {}
        self._by_user: dict[str, set[str]] = {}
        self.closed_octets: dict[str, int] = {}  # per user, since the snapshot row was last loaded
        # per session: octets it had at the user's last data-cap boundary, which belong to the previous window
        self._before_window: dict[str, int] = {}

    def touch(self, unique_id: str, session: Session) -> Session | None:
        """Record a Start/Interim; returns the previous state of the session (None if new)."""
        previous = self._by_id.get(unique_id)
        if previous is not None and previous.username != session.username:
            self._forget(unique_id)
            previous = None
        self._by_id[unique_id] = session
        self._by_user.setdefault(session.username, set()).add(unique_id)
        return previous

    def stop(self, unique_id: str, username: str, octets: int) -> None:
        session = self._by_id.get(unique_id)
        before = self._before_window.get(unique_id, 0)
        if session is not None:
            self._forget(unique_id)
        self.closed_octets[username] = self.closed_octets.get(username, 0) + max(octets - before, 0)

    def _forget(self, unique_id: str) -> None:
        session = self._by_id.pop(unique_id)
        self._before_window.pop(unique_id, None)
        ids = self._by_user.get(session.username)
        if ids is not None:
            ids.discard(unique_id)
            if not ids:
                del self._by_user[session.username]

    def close_nas(self, nas_ip: str) -> int:
        """Accounting-On/Off: the NAS restarted, so every session it held is gone."""
        gone = [uid for uid, s in self._by_id.items() if s.nas_ip == nas_ip]
        for uid in gone:
            self._forget(uid)
        return len(gone)

    def count(self, username: str, now: datetime) -> int:
        ids = self._by_user.get(username)
        if not ids:
            return 0
        horizon = now - self.stale_after
        sessions = (self._by_id.get(uid) for uid in tuple(ids))
        return sum(1 for s in sessions if s is not None and s.last_seen > horizon)

    def open_octets(self, username: str) -> int:
        """Octets of the user's open sessions in the current data-cap window."""
        total = 0
        for uid in tuple(self._by_user.get(username, ())):
            s = self._by_id.get(uid)
            if s is not None:
                total += max(s.octets - self._before_window.get(uid, 0), 0)
        return total

    def of_user(self, username: str) -> list[tuple[str, Session]]:
        """(acctuniqueid, session) of the user's open sessions."""
        found = ((uid, self._by_id.get(uid)) for uid in tuple(self._by_user.get(username, ())))
        return [(uid, s) for uid, s in found if s is not None]

    def window_octets(self, username: str) -> int:
        """What the user used in the current data-cap window beyond the snapshot row's usage_bytes: sessions
        closed since the row was loaded, and open sessions since the boundary."""
        return self.closed_octets.get(username, 0) + self.open_octets(username)

    def start_window(self, usernames) -> None:
        """A data-cap boundary passed for these users: what their open sessions carried so far (as of the last
        Interim-Update) belongs to the previous window."""
        for username in usernames:
            for uid in tuple(self._by_user.get(username, ())):
                s = self._by_id.get(uid)
                if s is not None:
                    self._before_window[uid] = s.octets

    def replace_all(self, sessions: dict[str, Session], before_window: dict[str, int] | None = None) -> None:
        by_user: dict[str, set[str]] = {}
        for uid, s in sessions.items():
            by_user.setdefault(s.username, set()).add(uid)
        self._by_id, self._by_user, self.closed_octets = dict(sessions), by_user, {}
        self._before_window = dict(before_window or {})

    def forget_closed_octets(self, usernames) -> None:
        for username in usernames:
            self.closed_octets.pop(username, None)

    def __len__(self) -> int:
        return len(self._by_id)


def load_open_sessions(conn, usernames: list[str] | None = None) -> dict[str, Session]:
    """acctuniqueid -> Session for the open radacct rows (of `usernames`, or everyone's), from a psycopg
    connection with tuple rows; feed it to `OpenSessions.replace_all`."""
    query, params = OPEN_SESSIONS_QUERY, ()
    if usernames is not None:
        query, params = query + " AND username = ANY(%s)", (list(usernames),)
    return sessions_from_rows(conn.execute(query, params))


def sessions_from_rows(rows) -> dict[str, Session]:
    """acctuniqueid -> Session from rows of OPEN_SESSIONS_QUERY (any driver whose rows unpack as tuples: the
    admin reads them through asyncpg, the module and `radbill explain` through psycopg)."""
    return {uid: Session(username, nas_ip, session_id, framed_ip, last_seen, octets, started, measured)
            for uid, username, nas_ip, session_id, framed_ip, last_seen, octets, started, measured in rows}


def octets_before_windows(sessions: dict[str, Session], rows) -> dict[str, int]:
    """Per loaded session of a capped user: the octets that belong to the window before the user's current
    one. Nobody measured the session at the boundary, so it is split by time, as the radius_policy view splits
    closed sessions; feed it to `OpenSessions.replace_all` with the sessions. `rows`: policy rows, or a dict
    username -> row (a full load has one: then only the sessions' users are looked at, not every row)."""
    by_user = rows if isinstance(rows, Mapping) else {row.username: row for row in rows if row is not None}
    before = {}
    for uid, s in sessions.items():
        row = by_user.get(s.username) if s.started is not None else None
        if row is not None and row.usage_resets_at is not None and row.usage_since is not None:
            before[uid] = octets_before(s.octets, s.started, s.measured_at or s.started, row.usage_since)
    return before


def policy_inputs(row: PolicyRow | None, username: str, calling_station_id: str | None, nas_ip: str | None,
                  sessions: OpenSessions, now: datetime, nas_type: str = "mikrotik"
                  ) -> tuple[PolicyRow | None, Request]:
    """What the session view adds to a decision: the open sessions simultaneous-use counts, and the octets used
    since the policy row was loaded (a data cap). The hook and `radbill explain` both decide through this."""
    if row is not None and row.data_cap_bytes is not None:
        used = row.usage_bytes + sessions.closed_octets.get(username, 0) + sessions.open_octets(username)
        row = replace(row, usage_bytes=used)
    return row, Request(username, calling_station_id, nas_ip, sessions.count(username, now), nas_type)
