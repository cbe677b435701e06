"""postmaster.pid: which postmaster serves our data directory (what `make run` adopts, or refuses to trust)."""

import os
import subprocess
import sys

from radbill.db.cluster import AdoptedProcess, LocalCluster, free_port


def fake_pid_file(tmp_path, pid: int) -> LocalCluster:
    datadir = tmp_path / "pg"
    datadir.mkdir()
    (datadir / "postmaster.pid").write_text(f"{pid}\n{datadir}\n1700000000\n5432\n/tmp\n127.0.0.1\n")
    return LocalCluster(datadir, 5432)


def test_the_live_postmaster_of_our_data_directory_is_found(pg_server):
    found = pg_server.cluster.running_postmaster()
    assert found is not None
    assert (found.pid, found.port) == (pg_server.cluster.process.pid, pg_server.cluster.port)


def test_a_pid_file_naming_a_live_process_that_is_not_our_postgres_is_stale(tmp_path, pg_server):
    assert fake_pid_file(tmp_path, os.getpid()).running_postmaster() is None  # pid reused by another program
    other = tmp_path / "other"
    other.mkdir()
    (other / "postmaster.pid").write_text((pg_server.cluster.datadir / "postmaster.pid").read_text())
    assert LocalCluster(other / ".", 5432).running_postmaster() is None  # a postgres, but of another data dir


def test_a_pid_file_naming_a_dead_process_is_stale(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert fake_pid_file(tmp_path, child.pid).running_postmaster() is None
    assert LocalCluster(tmp_path / "empty", free_port()).running_postmaster() is None  # no pid file at all


def test_an_adopted_process_is_watched_by_pid_until_it_exits():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    adopted = AdoptedProcess(child.pid)
    assert adopted.poll() is None
    adopted.terminate()
    child.wait(10)  # reaped by us here; for a real adoptee its parent (init) does it
    assert adopted.wait(5) == 0 and adopted.poll() == 0
