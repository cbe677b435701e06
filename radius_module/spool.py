"""The post-auth log, written by FreeRADIUS's linelog (C, outside Python's lock) and loaded by the worker.

Measured: queueing the log row from a Python post_auth hook cost ~15% of Access-Request throughput and put
the p99 over 5 ms (every Python call is serialised); so did parsing the lines in Python. linelog appends one
line per request in C, and the worker streams whole files into Postgres (COPY), which decodes them set-based
(LOAD_SQL; radbill_unescape in sql/migrations/0010). `parse_line` is the same decoding in Python, used for a
file the fast path refuses (a damaged line that would make a cast fail), so one bad line costs no good ones.

The file is taken over by rename: linelog stats the name before every write and reopens it when it is gone, so
after a rename only a write already under way can still reach the old file. A renamed file is loaded once it is
`grace` seconds old, then deleted; a crash between the load's commit and the delete loads the file again at the
next start (at-least-once: at most one file of duplicates).

Line format (space-separated; raddb/mods/linelog): seconds, microseconds, User-Name, reply type, the policy's
verdict ("accept:ok", "reject:suspended"), Called-Station-Id, Calling-Station-Id, NAS-IP-Address. linelog
escapes nothing, so the values a user or NAS chose are %{escape:...}d: "=XX" for each byte outside
[A-Za-z0-9@.:_-].
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger("radbill.radius")

FIELDS = 8
NUMBER = re.compile(r"[0-9]{1,12}")
ESCAPED = re.compile(r"(?:=[0-9A-F]{2})+")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

STAGE_SQL = """
    CREATE TEMP TABLE IF NOT EXISTS postauth_spool (
        seconds bigint NOT NULL, micros int NOT NULL, username text, reply text, verdict text, called text,
        calling text, nas text
    ) ON COMMIT DELETE ROWS
"""
# COPY splits the fields and casts the numbers in C; a line it cannot read fails the file -> the slow path.
# No tab, backslash or newline can occur inside a field: everything chosen by a user or NAS is escaped.
COPY_SQL = "COPY postauth_spool FROM STDIN (FORMAT text, DELIMITER ' ')"
LOAD_SQL = """
    INSERT INTO radpostauth (username, reply, reason, calledstationid, callingstationid, nasipaddress, authdate)
    SELECT radbill_unescape(username), coalesce(nullif(reply, ''), 'Access-Accept'),
           CASE WHEN reply = 'Access-Reject' AND split_part(verdict, ':', 1) = 'accept' THEN 'bad_credentials'
                ELSE split_part(verdict, ':', 2) END,
           nullif(radbill_unescape(called), ''), nullif(radbill_unescape(calling), ''), nullif(nas, '')::inet,
           to_timestamp(seconds) + micros * interval '1 microsecond'
      FROM postauth_spool
     WHERE seconds BETWEEN 0 AND 999999999999 AND micros BETWEEN 0 AND 999999
"""


def unescape(value: str) -> str:
    """radbill_unescape in Python: "=XX" runs back to UTF-8 text; bytes that are not UTF-8 stay escaped."""
    if "=" not in value:
        return value

    def run(m: re.Match) -> str:
        return bytes.fromhex(m.group(0).replace("=", "")).decode("latin-1")

    raw = ESCAPED.sub(run, value).encode("latin-1", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return value


def parse_line(line: str) -> tuple | None:
    """One radpostauth row (username, reply, reason, called, calling, nas_ip, authdate), or None if malformed."""
    parts = line.rstrip("\n").split(" ")
    if len(parts) != FIELDS or not NUMBER.fullmatch(parts[0]) or not NUMBER.fullmatch(parts[1]) or len(parts[1]) > 6:
        return None
    seconds, micros, user, reply, verdict, called, calling, nas_ip = parts
    try:
        authdate = EPOCH + timedelta(seconds=int(seconds), microseconds=int(micros))
    except OverflowError:
        return None
    if nas_ip:
        try:
            ipaddress.ip_address(nas_ip)
        except ValueError:
            return None
    reply = reply or "Access-Accept"
    policy, reason = (verdict.split(":") + [""])[:2]
    if reply == "Access-Reject" and policy == "accept":
        reason = "bad_credentials"  # our policy accepted, so pap/chap/mschap refused the password
    return (unescape(user), reply, reason, unescape(called) or None, unescape(calling) or None, nas_ip or None,
            authdate)


class Spool:
    """Hands over complete files of log lines that FreeRADIUS has stopped writing to."""

    def __init__(self, path: Path, grace: float = 0.5):
        self.path = Path(path)
        self.grace = grace

    def rotate(self) -> None:
        """Take the live file over (if it has anything in it); linelog starts a new one at its next write."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return
        os.replace(self.path, self.path.with_name(f"{self.path.name}.{time.time_ns()}"))

    def ready(self, everything: bool = False) -> list[Path]:
        """Taken-over files no writer can still be appending to, oldest first."""
        limit = time.time_ns() - int(self.grace * 1e9)
        out = []
        for candidate in self.path.parent.glob(f"{self.path.name}.*"):
            stamp = candidate.name.rpartition(".")[2]
            if stamp.isdecimal() and (everything or int(stamp) <= limit) and candidate.is_file():
                out.append((int(stamp), candidate))
        return [p for _, p in sorted(out)]

    @staticmethod
    def rows(path: Path) -> tuple[list[tuple], list[str]]:
        """The rows of one file, and the malformed lines skipped."""
        rows, bad = [], []
        with open(path, encoding="utf-8", errors="replace", newline="\n") as f:
            for line in f:
                row = parse_line(line)
                if row is not None:
                    rows.append(row)
                elif line.strip():
                    bad.append(line)
        return rows, bad
