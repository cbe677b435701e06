"""Log files are created 0640 whatever the umask, and an old world-readable one is tightened."""

import os

from radbill.logfiles import open_log


def test_open_log_creates_0640_and_tightens_an_existing_file(tmp_path):
    old_umask = os.umask(0o000)
    try:
        fresh = tmp_path / "fresh.log"
        with open_log(fresh) as out:
            out.write(b"one\n")
        old = tmp_path / "old.log"
        old.write_bytes(b"kept\n")
        old.chmod(0o666)
        with open_log(old) as out:
            out.write(b"appended\n")
    finally:
        os.umask(old_umask)
    assert oct(fresh.stat().st_mode & 0o777) == "0o640"
    assert oct(old.stat().st_mode & 0o777) == "0o640"
    assert old.read_bytes() == b"kept\nappended\n"
