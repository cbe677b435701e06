"""Pure RADIUS policy: subscriber policy rows and request attributes in, Decisions out (no I/O)."""

from radbill.policy.decide import MESSAGES, decide, normalise_mac
from radbill.policy.model import Check, Decision, PolicyRow, Request, Settings
from radbill.policy.rates import Speeds, format_rate
from radbill.policy.state import (
           DISPLAY_STATES,
           display_state,
           display_state_sql,
           has_expired,
           state_condition,
           state_label,
)

__all__ = ["DISPLAY_STATES", "MESSAGES", "Check", "Decision", "PolicyRow", "Request", "Settings", "Speeds", "decide",
           "display_state", "display_state_sql", "format_rate", "has_expired", "normalise_mac", "state_condition",
           "state_label"]
