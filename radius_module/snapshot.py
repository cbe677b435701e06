"""The policy snapshot: username -> PolicyRow, loaded from the `radius_policy` view."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from radbill.policy import PolicyRow, Speeds

POLICY_QUERY = "SELECT * FROM radius_policy"


def row_from_record(r: Mapping) -> PolicyRow:
    """Build a PolicyRow from one `radius_policy` row (a dict-like record)."""
    throttled = None
    if r["throttled_download_kbps"] and r["throttled_upload_kbps"]:
        throttled = Speeds(r["throttled_download_kbps"], r["throttled_upload_kbps"])
    return PolicyRow(
        username=r["username"],
        password=r["password"],
        status=r["status"],
        speeds=Speeds(r["download_kbps"], r["upload_kbps"], r["burst_download_kbps"], r["burst_upload_kbps"],
                      r["burst_threshold_download_kbps"], r["burst_threshold_upload_kbps"],
                      r["burst_time_seconds"]),
        expires_at=r["expires_at"],
        mac_address=r["mac_address"],
        static_ip=r["static_ip"],
        simultaneous_use=r["simultaneous_use"],
        ip_pool=r["ip_pool"],
        data_cap_bytes=r["data_cap_bytes"],
        throttled_speeds=throttled,
        usage_bytes=r["usage_bytes"] or 0,
        suspended_pool=r["suspended_pool"],
        suspended_rate_limit=r["suspended_rate_limit"] or "256k/256k",
        suspended_session_timeout=r["suspended_session_timeout"] or 300,
    )


class PolicySnapshot:
    """An in-memory map the hooks read without waiting; the worker thread swaps entries in.

    Single dict operations are atomic under the GIL, and a full reload builds a new dict and swaps the
    reference, so a reader never sees a half-loaded snapshot.
    """

    def __init__(self):
        self._rows: dict[str, PolicyRow] = {}
        self.loaded = False
        self.generation = 0

    def get(self, username: str) -> PolicyRow | None:
        return self._rows.get(username)

    def __len__(self) -> int:
        return len(self._rows)

    def replace_all(self, rows: Iterable[PolicyRow]) -> None:
        self._rows = {row.username: row for row in rows}
        self.loaded = True
        self.generation += 1

    def update(self, usernames: Iterable[str], rows: Iterable[PolicyRow]) -> None:
        """Refresh the given keys: present rows are replaced, absent ones (deleted customers) dropped."""
        fresh = {row.username: row for row in rows}
        for username in usernames:
            row = fresh.get(username)
            if row is None:
                self._rows.pop(username, None)
            else:
                self._rows[username] = row
        self.generation += 1
