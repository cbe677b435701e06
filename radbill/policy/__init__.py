"""Pure RADIUS policy: subscriber policy rows and request attributes in, Decisions out (no I/O)."""

from radbill.policy.decide import MESSAGES, decide, normalise_mac
from radbill.policy.model import Check, Decision, PolicyRow, Request, Settings
from radbill.policy.rates import Speeds, format_rate

__all__ = ["MESSAGES", "Check", "Decision", "PolicyRow", "Request", "Settings", "Speeds", "decide",
           "format_rate", "normalise_mac"]
