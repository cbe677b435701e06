"""rlm return codes and logging: the `radiusd` module exists only inside FreeRADIUS; outside (tests, CLI)
the same values are used so the hooks can be called directly."""

from __future__ import annotations

import logging

try:
    import radiusd  # type: ignore[import-not-found]  # provided by rlm_python3 inside the server
except ImportError:  # pragma: no cover - outside FreeRADIUS
    radiusd = None

REJECT, FAIL, OK, HANDLED, INVALID, USERLOCK, NOTFOUND, NOOP, UPDATED = range(9)
if radiusd is not None:
    REJECT, FAIL, OK = radiusd.RLM_MODULE_REJECT, radiusd.RLM_MODULE_FAIL, radiusd.RLM_MODULE_OK
    NOOP, UPDATED = radiusd.RLM_MODULE_NOOP, radiusd.RLM_MODULE_UPDATED


class RadlogHandler(logging.Handler):
    """Send Python logging to FreeRADIUS's log (radiusd.radlog)."""

    def emit(self, record: logging.LogRecord) -> None:
        level = radiusd.L_ERR if record.levelno >= logging.ERROR else (
            radiusd.L_WARN if record.levelno >= logging.WARNING else radiusd.L_INFO)
        radiusd.radlog(level, self.format(record))


def install_log_handler() -> None:
    logger = logging.getLogger("radbill")
    logger.setLevel(logging.INFO)
    if radiusd is not None and not any(isinstance(h, RadlogHandler) for h in logger.handlers):
        logger.addHandler(RadlogHandler())


def config_check_only() -> bool:
    """True under `freeradius -C`: sys.argv is [''] inside the server, so read our own command line."""
    import getopt

    try:
        with open("/proc/self/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
        options, _ = getopt.getopt(argv[1:], "Cd:D:fhi:l:mMn:p:PsS:tvxX")
    except (OSError, getopt.GetoptError, UnicodeDecodeError):
        return False
    return any(flag == "-C" for flag, _ in options)
