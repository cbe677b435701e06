"""`radbill install-units`: systemd units for production hosts (`make run` stays the one-box default).

One host may run the web side (admin, portal, scheduler: one scheduler in the whole installation), another one or
more RADIUS nodes (`radbill radius`). Every unit reads its settings from ENV_FILE (DATABASE_URL,
RADIUS_DATABASE_URL, RADBILL_DATA_KEYS, ...: README 'Two RADIUS servers'), runs as USER, and may write only
VAR_DIR."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from radbill.config import PROJECT_ROOT
from radbill.errors import RadbillError

ENV_FILE = "/etc/radbill/radbill.env"
VAR_DIR = "/var/lib/radbill"
USER = "radbill"
ROLES = {"radius": ("radbill-radius",), "web": ("radbill-admin", "radbill-portal", "radbill-scheduler")}
ROLES["all"] = ROLES["web"] + ROLES["radius"]

DESCRIPTIONS = {
    "radbill-radius": "radbill RADIUS node (FreeRADIUS + radbill's policy module)",
    "radbill-admin": "radbill staff admin (web)",
    "radbill-portal": "radbill customer portal (web)",
    "radbill-scheduler": "radbill scheduler (outbox dispatcher, billing jobs; one per installation)",
}


def exec_start(unit: str, python: str = sys.executable) -> str:
    if unit == "radbill-radius":
        # %H: the host's name, as the node calls itself among the others
        return f"{python} -m radbill.cli radius --var {VAR_DIR}/node --node-name %H"
    return f"{python} -m {unit.removeprefix('radbill-')}"


def render(unit: str, python: str = sys.executable) -> str:
    # FreeRADIUS binds 1812/1813 (no privilege needed above 1024); KillMode=mixed: SIGTERM to the supervisor, which
    # stops FreeRADIUS itself (its detach writes the journal and the spool out) before systemd kills the rest
    return f"""# Written by `radbill install-units`; edit the settings in {ENV_FILE}, not here.
[Unit]
Description={DESCRIPTIONS[unit]}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={USER}
Group={USER}
EnvironmentFile={ENV_FILE}
Environment=RADBILL_VAR_DIR={VAR_DIR}
WorkingDirectory={PROJECT_ROOT}
ExecStart={exec_start(unit, python)}
KillMode=mixed
TimeoutStopSec=30
Restart=on-failure
RestartSec=2
StateDirectory=radbill
StateDirectoryMode=0700
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={VAR_DIR}
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX

[Install]
WantedBy=multi-user.target
"""


def user_commands(user: str = USER, prefix: Path | None = None) -> list[list[str]]:
    """What makes the system account the units run as (User=/Group=): no password, no login shell, no home of its
    own (systemd's StateDirectory= makes VAR_DIR, owned by it, at the first start). `prefix`: another root's /etc."""
    where = ["--prefix", str(prefix)] if prefix is not None else []
    return [["useradd", *where, "--system", "--user-group", "--no-create-home", "--home-dir", VAR_DIR,
             "--shell", "/usr/sbin/nologin", "--comment", "radbill services", user]]


def user_exists(user: str = USER, prefix: Path | None = None) -> bool:
    passwd = Path(prefix or "/") / "etc" / "passwd"
    return any(line.split(":", 1)[0] == user for line in passwd.read_text().splitlines())


def create_user(user: str = USER, prefix: Path | None = None) -> bool:
    """Create the account if it is missing (root only); False when it was there already."""
    if user_exists(user, prefix):
        return False
    commands = user_commands(user, prefix)
    if os.geteuid() != 0:
        raise RadbillError(f"creating the system user {user!r} needs root: run this again with sudo, or run "
                           f"{'; '.join(map(shlex.join, commands))} as root")
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RadbillError(f"{shlex.join(command)} failed: {result.stderr.strip() or result.returncode}")
    return True


def install_units(prefix: Path, role: str = "all", dry_run: bool = False) -> list[tuple[Path, str]]:
    """The (path, text) of each unit of `role`; written (mode 0644) unless dry_run."""
    if role not in ROLES:
        raise RadbillError(f"unknown role {role!r}: choose one of {', '.join(sorted(ROLES))}")
    units = [(prefix / f"{name}.service", render(name)) for name in ROLES[role]]
    if not dry_run:
        try:
            prefix.mkdir(parents=True, exist_ok=True)
            for path, text in units:
                path.write_text(text)
                path.chmod(0o644)
        except OSError as exc:
            raise RadbillError(f"cannot write the units to {prefix}: {exc.strerror}") from None
    return units
