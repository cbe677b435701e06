"""The CoA lab's shape (a FreeRADIUS with a simulated router of every type) and the dispatcher's fast retries."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from radbill.services.outbox import DispatchSettings, RetryPolicy
from tests.nas_simulator import NasSimulator
from tests.support.radius import RadiusServer

# fast retries so the give-up paths run in well under a second
FAST = DispatchSettings(retry=RetryPolicy(max_attempts=3, base_delay=0.05, factor=2.0, max_delay=0.2, jitter=0.2),
                        radius_timeout=0.2, radius_tries=1)


@dataclass
class CoaLab:
    radius: RadiusServer
    routers: dict[str, NasSimulator]  # router type -> its simulator
    isp: SimpleNamespace
    db_url: str

    @property
    def mikrotik(self) -> NasSimulator:
        return self.routers["mikrotik"]

    @property
    def other(self) -> NasSimulator:
        """A router of the generic type (what 'other' became in migration 0035)."""
        return self.routers["generic"]


ROUTER_ADDRESSES = {"mikrotik": "127.0.0.2", "generic": "127.0.0.3", "cisco": "127.0.0.4", "juniper": "127.0.0.5",
                    "huawei": "127.0.0.6", "accel_ppp": "127.0.0.7"}
