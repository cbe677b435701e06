from radbill import freeradius


def test_freeradius_accepts_our_raddb(radius):
    result = freeradius.check_config(radius.settings)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Configuration appears to be OK" in result.stdout


def test_status_server_answers(radius):
    assert radius.client().status_server()
