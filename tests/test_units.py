"""`radbill install-units`: systemd units for production hosts that systemd itself accepts."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

import pytest

from radbill.cli import main
from radbill.units import ROLES, exec_start


def _directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.parametrize("role", ["all", "radius", "web"])
def test_units_are_written_for_the_role_and_systemd_accepts_them(tmp_path, role, capsys):
    assert main(["install-units", "--prefix", str(tmp_path), "--role", role]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(f"{name}.service" for name in ROLES[role])
    for path in tmp_path.iterdir():
        d = _directives(path.read_text())
        assert d["User"] == ["radbill"] and d["EnvironmentFile"] == ["/etc/radbill/radbill.env"]
        assert d["Restart"] == ["on-failure"] and d["NoNewPrivileges"] == ["yes"]
        assert d["ProtectSystem"] == ["strict"] and d["ReadWritePaths"] == ["/var/lib/radbill"]
        assert d["ExecStart"] == [exec_start(path.stem)]
        assert d["ExecStart"][0].startswith(sys.executable + " -m ")
        assert oct(path.stat().st_mode & 0o777) == "0o644"
    if shutil.which("systemd-analyze"):  # Debian 12 has it; verify checks every directive and the ExecStart binary
        result = subprocess.run(["systemd-analyze", "verify", *map(str, sorted(tmp_path.iterdir()))],
                                capture_output=True, text=True, timeout=60)
        ours = [line for line in result.stderr.splitlines() if str(tmp_path) in line]
        assert result.returncode == 0 and not ours, result.stderr


def test_the_radius_unit_runs_a_node_and_web_runs_no_radius(tmp_path):
    assert main(["install-units", "--prefix", str(tmp_path), "--role", "radius"]) == 0
    text = (tmp_path / "radbill-radius.service").read_text()
    assert "-m radbill.cli radius --var /var/lib/radbill/node --node-name %H" in text
    assert main(["install-units", "--prefix", str(tmp_path / "web"), "--role", "web"]) == 0
    starts = [_directives(p.read_text())["ExecStart"][0] for p in (tmp_path / "web").iterdir()]
    assert sorted(s.rsplit(" ", 1)[1] for s in starts) == ["admin", "portal", "scheduler"]


def test_dry_run_prints_the_units_and_writes_nothing(tmp_path, capsys):
    target = tmp_path / "units"
    assert main(["install-units", "--prefix", str(target), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert not target.exists()
    assert out.count("[Service]") == len(ROLES["all"]) and f"# {target}/radbill-radius.service" in out


def test_systemd_verify_would_catch_a_broken_unit(tmp_path):
    """The check above can fail: a unit whose ExecStart does not exist is refused."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    bad = tmp_path / "radbill-bad.service"
    bad.write_text("[Service]\nExecStart=/nonexistent/radbill run\n")
    result = subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


def test_the_units_say_how_to_make_their_missing_user(tmp_path, capsys):
    from radbill.units import USER, user_commands, user_exists

    if user_exists(USER):
        pytest.skip(f"this box has a {USER} user already")
    assert main(["install-units", "--prefix", str(tmp_path), "--role", "web"]) == 0
    out = capsys.readouterr().out
    [command] = user_commands()
    assert f"the system user {USER}, which does not exist yet" in out and "--create-user" in out
    assert shlex.join(command) in out  # pasteable into a root shell
    assert command[0] == "useradd" and command[-1] == USER and "--system" in command and "--user-group" in command
    assert command[command.index("--shell") + 1] == "/usr/sbin/nologin"  # a service account: no login
    assert command[command.index("--home-dir") + 1] == "/var/lib/radbill"  # the units' ReadWritePaths


def test_create_user_makes_the_account_the_units_name_once(tmp_path):
    """Against a copy of /etc (useradd --prefix): the real useradd, and this box's accounts untouched."""
    from radbill.units import USER, create_user

    if not shutil.which("useradd"):
        pytest.skip("useradd is not installed")
    (tmp_path / "etc").mkdir()
    for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        shutil.copy(f"/etc/{name}", tmp_path / "etc" / name)
    assert create_user(USER, tmp_path) is True
    [line] = [x for x in (tmp_path / "etc" / "passwd").read_text().splitlines() if x.startswith(f"{USER}:")]
    name, _, uid, gid, _, home, shell = line.split(":")
    assert int(uid) < 1000 and home == "/var/lib/radbill" and shell == "/usr/sbin/nologin"  # a system account
    assert f"{USER}:x:{gid}:" in (tmp_path / "etc" / "group").read_text()  # Group= in the units exists too
    assert create_user(USER, tmp_path) is False  # a second run changes nothing
    assert (tmp_path / "etc" / "passwd").read_text().count(f"\n{USER}:") == 1
