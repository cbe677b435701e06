"""Open sessions per user, kept from accounting in memory so authorize never queries radacct.

The one session view: the module's tracker, its reload from radacct after a (re)connect, and `radbill explain`
all count with `OpenSessions` loaded by `load_open_sessions`, so explain says what the server does."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from radbill.policy import PolicyRow, Request

# last_seen: when radbill last folded a packet of the session (heard_at, migration 0018), as the tracker stamps
# it; never the NAS's Event-Timestamp (a NAS with a wrong clock would make every session stale at once).
# The fallbacks only serve rows folded before migration 0018.
OPEN_SESSIONS_QUERY = """
    SELECT acctuniqueid, username, host(nasipaddress) AS nas_ip, acctsessionid, host(framedipaddress) AS framed_ip,
           coalesce(heard_at, acctupdatetime, acctstarttime, now()) AS last_seen,
           coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0) AS octets
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


class OpenSessions:
    """acctuniqueid -> Session. A session silent for longer than `stale_after` is not counted (a NAS that
    rebooted without Accounting-On must not lock its users out for ever)."""

    def __init__(self, stale_after: timedelta):
        self.stale_after = stale_after
        self._by_id: dict[str, Session] = {}
        self._by_user: dict[str, set[str]] = {}
        self.closed_octets: dict[str, int] = {}  # per user, since the snapshot row was last loaded

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
        if session is not None:
            self._forget(unique_id)
        self.closed_octets[username] = self.closed_octets.get(username, 0) + octets

    def _forget(self, unique_id: str) -> None:
        session = self._by_id.pop(unique_id)
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
        sessions = (self._by_id.get(uid) for uid in tuple(self._by_user.get(username, ())))
        return sum(s.octets for s in sessions if s is not None)

    def replace_all(self, sessions: dict[str, Session]) -> None:
        by_user: dict[str, set[str]] = {}
        for uid, s in sessions.items():
            by_user.setdefault(s.username, set()).add(uid)
        self._by_id, self._by_user, self.closed_octets = dict(sessions), by_user, {}

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
    return {uid: Session(username, nas_ip, session_id, framed_ip, last_seen, octets)
            for uid, username, nas_ip, session_id, framed_ip, last_seen, octets in conn.execute(query, params)}


def policy_inputs(row: PolicyRow | None, username: str, calling_station_id: str | None, nas_ip: str | None,
                  sessions: OpenSessions, now: datetime) -> tuple[PolicyRow | None, Request]:
    """What the session view adds to a decision: the open sessions simultaneous-use counts, and the octets used
    since the policy row was loaded (a data cap). The hook and `radbill explain` both decide through this."""
    if row is not None and row.data_cap_bytes is not None:
        used = row.usage_bytes + sessions.closed_octets.get(username, 0) + sessions.open_octets(username)
        row = replace(row, usage_bytes=used)
    return row, Request(username, calling_station_id, nas_ip, sessions.count(username, now))
