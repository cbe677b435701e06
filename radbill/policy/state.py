"""The state a customer is in as people see it: the status an operator set, or *expired* once an active
customer's paid time has run out — the very test with which the RADIUS policy rejects for reason `expired`.

The rule is written once in Python (the policy, which has a row in hand) and once as SQL built here beside it
(the admin's list, filter, profile and dashboard, which work on sets); tests/policy/test_state.py holds the two
to the same answers at the boundary.
"""

from __future__ import annotations

from datetime import datetime

from radbill.i18n import lazy_gettext

# what the status filter offers and the badges show; `expired` is never stored (it is a matter of time)
DISPLAY_STATES = ("active", "expired", "suspended", "disabled")
# what people read for a state (badge, filter, sentences); the codes above stay the keys
STATE_LABELS = {"active": lazy_gettext("Active"), "expired": lazy_gettext("Expired"),
                "suspended": lazy_gettext("Suspended"), "disabled": lazy_gettext("Disabled")}


def has_expired(expires_at: datetime | None, now: datetime) -> bool:
    """Paid time is over at the expiry instant itself; no expiry means it never runs out."""
    return expires_at is not None and expires_at <= now


def display_state(status: str, expires_at: datetime | None, now: datetime) -> str:
    """Only an active customer can be expired: a suspension or disablement says more about what to do."""
    return "expired" if status == "active" and has_expired(expires_at, now) else status


def state_label(state: str) -> str:
    """The state's name in the current language ("Expired", "মেয়াদোত্তীর্ণ"); an unknown code shows as itself."""
    label = STATE_LABELS.get(state)
    return str(label) if label is not None else state


def display_state_sql(now: str, alias: str = "c") -> str:
    """SQL for display_state over `alias`'s customers row; `now` is a bound parameter such as "$3"."""
    return (f"(CASE WHEN {alias}.status = 'active' AND {alias}.expires_at <= {now}::timestamptz"
            f" THEN 'expired' ELSE {alias}.status END)")


def state_condition(state: str, now: str, alias: str = "c") -> str:
    """A WHERE fragment selecting customers in a display state, written so that Postgres can use the
    customers_expires index (expires_at WHERE status = 'active') instead of evaluating the CASE per row."""
    if state not in DISPLAY_STATES:
        raise ValueError(f"unknown display state {state!r}")
    if state == "expired":
        return f"({alias}.status = 'active' AND {alias}.expires_at <= {now}::timestamptz)"
    if state == "active":
        return f"({alias}.status = 'active' AND ({alias}.expires_at IS NULL OR {alias}.expires_at > {now}::timestamptz))"
    return f"{alias}.status = '{state}'"  # one of the fixed names above, never typed text
