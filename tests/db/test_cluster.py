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


def test_the_embedded_cluster_gets_a_quarter_of_the_memory_as_shared_buffers(tmp_path, monkeypatch):
    from radbill import localenv

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       25165824 kB\nMemFree:  1 kB\n")  # 24 GiB
    assert localenv.memory_bytes(meminfo, ()) == 24 * 2**30
    limit = tmp_path / "memory.max"
    limit.write_text(f"{2 * 2**30}\n")  # a container limited to 2 GiB on that host
    assert localenv.memory_bytes(meminfo, (tmp_path / "missing", limit)) == 2 * 2**30
    limit.write_text("max\n")  # no limit
    assert localenv.memory_bytes(meminfo, (limit,)) == 24 * 2**30
    assert localenv.shared_buffers_for(24 * 2**30) == "6144MB"
    assert localenv.shared_buffers_for(256 * 2**20) == "128MB"  # never below Postgres's own default
    assert localenv.shared_buffers_for(256 * 2**30) == "8192MB"
    monkeypatch.setattr(localenv, "ENV_FILE", tmp_path / "radbill.env")
    monkeypatch.delenv("RADBILL_PG_SHARED_BUFFERS", raising=False)
    assert localenv.embedded_cluster().settings["shared_buffers"] == localenv.shared_buffers_for(localenv.memory_bytes())
    monkeypatch.setenv("RADBILL_PG_SHARED_BUFFERS", "2GB")
    assert localenv.embedded_cluster().settings["shared_buffers"] == "2GB"


def test_a_clusters_own_settings_reach_postgres():
    import shutil
    import tempfile
    from pathlib import Path

    import psycopg

    base = Path(tempfile.mkdtemp(prefix="radbill-test-"))
    base.chmod(0o755)  # the postgres OS user runs the server when the tests run as root
    cluster = LocalCluster(base / "pg", free_port(), {"shared_buffers": "48MB"})
    try:
        creds = cluster.init()
        cluster.start(log=base / "pg.log")
        with psycopg.connect(creds.url()) as conn:
            assert conn.execute("SHOW shared_buffers").fetchone()[0] == "48MB"
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
