"""A FreeRADIUS restart without a long silence: the new server loads everything while the old one answers.

FreeRADIUS 3.2 binds its sockets only after every module is instantiated (measured: a second server on the same
ports fails at the bind ~2 s after it starts, once the snapshot is loaded), and it cannot share a port
(no SO_REUSEPORT). So radbill starts the new server with RADBILL_HANDOVER_PID (the old server) and
RADBILL_HANDOVER_READY (a file). Our instantiate, the last one (raddb/radiusd.conf instantiates sql first), loads
the snapshot, creates the file, then waits until the old server has let go of the RADIUS ports; the supervisor
stops the old server as soon as the file exists.

The old server holds its ports until it exits, ~300 ms after SIGTERM, though everything that must be written
(queued outbox rows, the last fold, the post-auth spool) is written by our detach within the first ~150 ms. So
detach creates RADBILL_DETACHED_MARK when it is done, and the supervisor then ends the old server with SIGKILL:
the remaining teardown only frees memory. What stays silent is the old server's detach plus the new one's bind.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger("radbill.radius")


def wait_for_predecessor(timeout: float = 30.0) -> None:
    """Block instantiate until the old server released our ports (or died); no-op on a plain start."""
    pid, ready = os.environ.get("RADBILL_HANDOVER_PID", ""), os.environ.get("RADBILL_HANDOVER_READY", "")
    if not pid.isdigit() or not ready:
        return
    ports = {int(os.environ[k]) for k in ("RADBILL_RADIUS_AUTH_PORT", "RADBILL_RADIUS_ACCT_PORT") if k in os.environ}
    Path(ready).touch()
    started = time.monotonic()
    while _alive(int(pid)) and ports & _bound_udp_ports() and time.monotonic() - started < timeout:
        time.sleep(0.002)
    log.info("radbill took over from FreeRADIUS pid %s after %.0f ms (at %.3f)", pid,
             (time.monotonic() - started) * 1000, time.time())


def mark_detached() -> None:
    """Tell the supervisor nothing of ours is left to write (see the module docstring)."""
    mark = os.environ.get("RADBILL_DETACHED_MARK", "")
    if mark:
        Path(mark).touch()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _bound_udp_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        ports.update(int(line.split()[1].rsplit(":", 1)[1], 16) for line in lines)
    return ports
