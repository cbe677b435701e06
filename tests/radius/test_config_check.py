from pathlib import Path

import pytest

from radbill import freeradius
from tests.support.radius import running_radius


def test_freeradius_accepts_our_raddb(radius):
    result = freeradius.check_config(radius.settings)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Configuration appears to be OK" in result.stdout


def test_status_server_answers(radius):
    assert radius.client().status_server()


def _threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def test_radbill_radius_threads_sets_freeradius_worker_threads(radius, radius_db_url, pg_server):
    """RADBILL_RADIUS_THREADS reaches raddb/radiusd.conf's thread pool: 5 more workers, 5 more threads."""
    assert radius.settings.threads == 4
    with running_radius(radius_db_url, Path(pg_server.base) / "radius-9", radius.secret, threads=9) as nine:
        assert freeradius.check_config(nine.settings).returncode == 0
        assert nine.client().status_server()
        assert _threads(nine.service.process.pid) - _threads(radius.service.process.pid) == 5


def test_radius_threads_is_read_from_the_environment_and_bounded():
    from radbill.errors import ConfigError
    from radbill.radius_node import NodeOptions, settings_for

    options = NodeOptions(database_url="postgresql://r@db/radbill", var_dir=Path("/tmp/x"), listen="127.0.0.1",
                          auth_port=1812, acct_port=1813, node_name="")
    assert settings_for(options, {}).threads == 4
    assert settings_for(options, {"RADBILL_RADIUS_THREADS": "12"}).threads == 12
    with pytest.raises(ConfigError, match="RADBILL_RADIUS_THREADS"):
        settings_for(options, {"RADBILL_RADIUS_THREADS": "0"})
