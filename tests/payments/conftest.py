import pytest

from radbill import secretbox
from radbill.payments.fakes.bkash import start_fake


@pytest.fixture(autouse=True)
def data_keys(monkeypatch):
    monkeypatch.setenv(secretbox.ENV, secretbox.new_key_entry("t"))


@pytest.fixture
async def fake_bkash():
    fake, runner = await start_fake(stall=1.0, late=0.3)
    yield fake
    await runner.cleanup()
