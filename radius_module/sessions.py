"""Open sessions per user, kept from accounting in memory so authorize never queries radacct."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


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
