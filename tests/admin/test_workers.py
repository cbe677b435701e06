"""RADBILL_ADMIN_WORKERS: `radbill run` starts that many admin processes on one port (admin.app.main binds with
SO_REUSEPORT when there is more than one). Real processes, a real port: both listen, and one dying leaves the
port answering; with one worker configured, a second process cannot take the port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from radbill.db.cluster import free_port
from tests.support.db import app_url

ROOT = Path(__file__).resolve().parents[2]


def listening_pids(port: int) -> set[int]:
    """PIDs holding a listening TCP socket on 127.0.0.1:`port` (from /proc: no tool needed)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and int(local.split(":")[1], 16) == port:  # 0A: LISTEN
            inodes.add(inode)
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    pids.add(int(entry.name))
        except OSError:  # a process gone or not ours to read
            continue
    return pids


def start(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "admin"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_listening(port: int, processes: list[subprocess.Popen], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    want = {p.pid for p in processes}
    while time.monotonic() < deadline:
        if want <= listening_pids(port):
            return
        for p in processes:
            if p.poll() is not None:
                pytest.fail(f"admin pid {p.pid} exited with {p.returncode}")
        time.sleep(0.1)
    pytest.fail(f"not all of {want} listen on {port}: {listening_pids(port)}")


def healthz_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            return response.status in (200, 503)
    except urllib.error.HTTPError as error:  # 503: no scheduler here; the admin still answered
        return error.code == 503


def test_two_workers_share_the_port_and_survive_each_other(fresh_db_url):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": app_url(fresh_db_url), "MIGRATE_DATABASE_URL": fresh_db_url,
           "RADBILL_SECRET_KEY": "w" * 64, "RADBILL_ADMIN_PORT": str(port), "RADBILL_COOKIE_SECURE": "false",
           "RADBILL_ADMIN_WORKERS": "2"}
    with tempfile.TemporaryFile() as log:
        workers = [start(env, log), start(env, log)]
        try:
            wait_listening(port, workers)
            assert healthz_answers(port)
            workers[0].terminate()
            workers[0].wait(10)
            for _ in range(20):  # new connections all land on the one left
                assert healthz_answers(port)
            assert listening_pids(port) == {workers[1].pid}
        finally:
            for p in workers:
                if p.poll() is None:
                    p.terminate()
                    p.wait(10)


def test_one_worker_keeps_the_port_to_itself(fresh_db_url):
    """Without the setting a stale admin (say, of another run) is an error, not a silent sharer."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": app_url(fresh_db_url), "MIGRATE_DATABASE_URL": fresh_db_url,
           "RADBILL_SECRET_KEY": "w" * 64, "RADBILL_ADMIN_PORT": str(port), "RADBILL_COOKIE_SECURE": "false"}
    with tempfile.TemporaryFile() as log:
        first = start(env, log)
        try:
            wait_listening(port, [first])
            second = start(env, log)
            assert second.wait(30) != 0
            assert listening_pids(port) == {first.pid}
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
        finally:
            first.terminate()
            first.wait(10)
