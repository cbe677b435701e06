"""`radbill radius` refuses bad settings with a sentence that says what to do, before starting anything."""

from __future__ import annotations

import socket

from radbill.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_a_database_url_it_says_where_to_get_one(monkeypatch, tmp_path, capsys):
    for key in ("RADIUS_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    assert main(["radius", "--var", str(tmp_path)]) == 2
    assert "RADIUS_DATABASE_URL" in capsys.readouterr().err


def test_an_unreachable_database_is_named_with_what_to_check(tmp_path, capsys):
    url = f"postgresql://radbill_radius:x@127.0.0.1:{_closed_port()}/radbill"
    assert main(["radius", "--database-url", url, "--var", str(tmp_path), "--auth-port", "1", "--acct-port", "2"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the database" in err and "pg_hba.conf" in err
    assert not (tmp_path / "radius").exists()  # nothing was started or written
