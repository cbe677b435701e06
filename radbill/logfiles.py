"""Log files of the processes radbill starts (var/log/*.log): owner read-write, group read, nobody else.

Logs carry usernames, addresses and SQL errors, so they are created 0640 whatever the umask, and a file left
world-readable by an older version is tightened when it is opened again.
"""

from __future__ import annotations

import os
from pathlib import Path

LOG_MODE = 0o640


def open_log(path: Path | str):
    """Open `path` for appending (a binary file object for a child's stdout), creating it 0640."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_MODE)
    os.fchmod(fd, LOG_MODE)  # O_CREAT's mode is filtered by the umask, and an existing file keeps its old mode
    return os.fdopen(fd, "ab")
