"""Accounting through a spool (RADBILL_ACCT_WRITE=spool): FreeRADIUS's linelog appends each Accounting-Request as
one line to this node's spool file and answers it; the module's worker takes the file over a few times a second
and loads it into radacct_journal set-based (COPY, then one INSERT ... SELECT), and the fold goes on as in "sql".

Why (bench/README.md, "Accounting through a spool"): with rlm_sql, each Accounting-Request is its own INSERT and
its own commit, and a FreeRADIUS thread waits for each commit's WAL flush. On the 2-core bench box that held a
durable Postgres to ~3,000 Accounting-Requests/s. Here one load commits thousands of rows at once.

What it trades. The Accounting-Response goes out once linelog's write() returned: the line is in the kernel's page
cache, not yet in Postgres. Killing FreeRADIUS or Postgres loses nothing (the file stays and is loaded by the next
start or reconnect), and while Postgres is down or restarting, accounting is still answered instead of the NAS
retransmitting until it gives up. A power loss or kernel crash loses the lines acknowledged since the last load
(normally well under a second). A write that fails (disk full) fails the accounting section: no answer goes out
and the NAS retransmits, as with rlm_sql.

Taking a file over without losing a line: the worker renames the live file (linelog stats the name before every
write and opens a new file when it is gone), then takes an open-file-description lock on the renamed one. linelog
(FreeRADIUS's exfile) holds a classic fcntl lock on the file while it writes, and the two kinds conflict even
inside one process, so once the lock is ours no write is under way, and a writer that still had the old file
open fails its lock and reopens the name. A file another process's worker loaded first (two FreeRADIUS processes
during a handover share the spool) is already unlinked when its lock comes free: it is skipped.

Line format (raddb/mods/linelog, acct_log; space-separated, every value a NAS chose %{escape:...}d as "=XX" for
each byte outside [A-Za-z0-9@.:_-], so no field holds a space, tab, backslash or newline): the event time (Unix
seconds), then the attributes in ACCT_COLUMNS order. Stored values are the router's own text (radbill_unescape);
rlm_sql stores its escaped form ("=27" for a quote). The session's unique id is the stock one either way: md5 of
"User-Name,Acct-Session-Id,NAS address,NAS-Identifier,NAS-Port-Id,NAS-Port" as the router sent them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import struct
from pathlib import Path

import psycopg

from radius_module.spool import Spool

log = logging.getLogger("radbill.radius")

ACCT_COLUMNS = ("status", "sessionid", "username", "realm", "nas", "nasid", "portid", "port", "porttype",
                "sessiontime", "authentic", "connectinfo", "ingw", "inoct", "outgw", "outoct", "called", "calling",
                "cause", "servicetype", "framedprotocol", "framedip", "framedip6", "framedprefix", "interfaceid",
                "delegated")
STAGE_SQL = ("CREATE TEMP TABLE IF NOT EXISTS acct_spool (seconds bigint, "
             + ", ".join(f"{c} text" for c in ACCT_COLUMNS) + ") ON COMMIT DELETE ROWS")
# COPY splits the fields and reads the time in C; a line it cannot read fails the file -> the slow path
COPY_SQL = "COPY acct_spool FROM STDIN (FORMAT text, DELIMITER ' ')"
# the same row mods/sql's journal query writes, from the unescaped values (radbill_unescape: migration 0010;
# radbill_acct_unique_id reads "=XX" as one byte: migration 0067)
LOAD_SQL = """
    INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid,
        nasporttype, event_time, sessiontime, authentic, connectinfo, inputoctets, outputoctets, calledstationid,
        callingstationid, terminatecause, servicetype, framedprotocol, framedipaddress, framedipv6address,
        framedipv6prefix, framedinterfaceid, delegatedipv6prefix)
    SELECT radbill_unescape(status), radbill_unescape(sessionid),
           radbill_acct_unique_id(concat_ws(',', username, sessionid, nas, nasid, portid, port)),
           radbill_unescape(username), nullif(radbill_unescape(realm), ''), nullif(nas, '')::inet,
           coalesce(nullif(radbill_unescape(portid), ''), nullif(port, '')), radbill_unescape(porttype),
           to_timestamp(seconds), nullif(sessiontime, '')::bigint, radbill_unescape(authentic),
           radbill_unescape(connectinfo),
           (coalesce(nullif(ingw, ''), '0')::bigint << 32) + coalesce(nullif(inoct, ''), '0')::bigint,
           (coalesce(nullif(outgw, ''), '0')::bigint << 32) + coalesce(nullif(outoct, ''), '0')::bigint,
           radbill_unescape(called), radbill_unescape(calling), radbill_unescape(cause),
           radbill_unescape(servicetype), radbill_unescape(framedprotocol), nullif(framedip, '')::inet,
           nullif(framedip6, '')::inet, nullif(radbill_unescape(framedprefix), '')::inet,
           nullif(radbill_unescape(interfaceid), ''), nullif(radbill_unescape(delegated), '')::inet
      FROM acct_spool
"""
UNREADABLE = (psycopg.DataError, psycopg.IntegrityError)
# struct flock for F_OFD_SETLKW on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid (0: required for OFD)
_FLOCK = struct.Struct("hhqqi4x")


def lock_whole_file(fd: int) -> None:
    """Wait for an open-file-description write lock on the whole file (released when the file is closed)."""
    fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))


class AcctSpool(Spool):
    """The accounting spool: `load` moves every finished file into radacct_journal, oldest first."""

    def __init__(self, path: Path):
        super().__init__(path, grace=0.0)  # no grace: the lock says when the last write is done
        self.rejected = self.path.with_name(self.path.name + ".rejected")

    def waiting(self) -> bool:
        """Whether anything is spooled (a stat of the live file, a listing only when it is empty)."""
        try:
            st = self.path.stat()
            if stat.S_ISREG(st.st_mode) and st.st_size:
                return True
        except FileNotFoundError:
            pass
        return bool(self.ready(everything=True))

    def load(self, conn: psycopg.Connection) -> int:
        """Take the live file over and load every spooled file; the journal rows written. A file is deleted only
        after its rows commit (a crash in between loads it again: the fold takes a repeated packet as the NAS's
        retransmit it could have been)."""
        self.rotate()
        loaded = 0
        for path in self.ready(everything=True):
            try:
                f = open(path, "r+b")
            except FileNotFoundError:  # another process's worker loaded it
                continue
            with f:
                lock_whole_file(f.fileno())
                if os.fstat(f.fileno()).st_nlink == 0:
                    continue
                loaded += self._load_file(conn, f, path)
                path.unlink()
        return loaded

    def _load_file(self, conn: psycopg.Connection, f, path: Path) -> int:
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(STAGE_SQL)
                with cur.copy(COPY_SQL) as copy:
                    while chunk := f.read(1 << 20):
                        copy.write(chunk)
                cur.execute(LOAD_SQL)
                return cur.rowcount
        except UNREADABLE as exc:  # a line COPY, a cast or a constraint refuses: line by line, keep the rest
            log.warning("radbill accounting spool %s needs the slow path: %s", path, exc)
        f.seek(0)
        loaded, bad = 0, []
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(STAGE_SQL)
            for line in f:
                if not line.strip():
                    continue
                try:
                    with conn.transaction():
                        with cur.copy(COPY_SQL) as copy:
                            copy.write(line if line.endswith(b"\n") else line + b"\n")
                        cur.execute(LOAD_SQL)
                        loaded += cur.rowcount
                        cur.execute("DELETE FROM acct_spool")
                except UNREADABLE:
                    bad.append(line)
        if bad:
            fd = os.open(self.rejected, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "ab") as out:
                out.writelines(b if b.endswith(b"\n") else b + b"\n" for b in bad)
            log.error("radbill could not read %d accounting spool lines of %s (kept in %s), e.g. %.200r",
                      len(bad), path, self.rejected, bad[0])
        return loaded
