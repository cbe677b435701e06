"""Pure rules for corrections: where a reversed payment's money is taken back from, and what it does to the
expiry. No I/O (radbill/services/corrections.py loads the values and writes the result).

Rules (README "Corrections" says the same for operators):

1. Reversing R of a payment takes R back from the customer's money, in this order:
   a. what this payment left as advance credit (still in the wallet): a mistyped overpayment is corrected
      without touching the period it paid;
   b. the bills this payment paid, newest period first (what it put on each, less what is still there): a
      bounced payment takes its period back;
   c. the rest of the advance wallet (money is fungible: credit the customer holds is taken before service);
   d. the customer's other bills holding money, newest period first (advance credit drawn into them).
   What a customer holds (wallet + money on bills) is always the sum of its unreversed payments, so a reversal
   within what is left of a payment is always covered.
2. A bill that was paid in full and is no longer gives its period's service back: the expiry moves back by
   the period's length, but never before "now" (days already used cannot be un-used) and never forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class HeldBill:
    """A bill holding some of the customer's money; `by_payment`: how much of it came from the reversed payment."""

    bill_id: int
    paid_minor: int
    by_payment: int = 0


@dataclass(frozen=True, slots=True)
class TakeBack:
    """Where a reversal's money comes from: (bill id, amount) per bill, newest first, and the wallet's part."""

    from_bills: tuple[tuple[int, int], ...]
    from_wallet: int


def plan_take_back(amount_minor: int, bills_newest_first: Sequence[HeldBill], wallet_minor: int,
                   own_advance_minor: int = 0) -> TakeBack:
    """Rule 1: this payment's advance, the bills it paid, the rest of the wallet, the other bills holding money."""
    if amount_minor <= 0:
        raise ValueError("a reversal takes back a positive amount")
    wallet_minor = max(wallet_minor, 0)
    own = min(amount_minor, max(own_advance_minor, 0), wallet_minor)
    left = amount_minor - own
    taken: dict[int, int] = {}
    for b in bills_newest_first:
        take = min(left, b.by_payment, b.paid_minor)
        if take > 0:
            taken[b.bill_id] = take
            left -= take
    from_wallet = own + min(left, wallet_minor - own)
    left = amount_minor - from_wallet - sum(taken.values())
    for b in bills_newest_first:
        take = min(left, b.paid_minor - taken.get(b.bill_id, 0))
        if take > 0:
            taken[b.bill_id] = taken.get(b.bill_id, 0) + take
            left -= take
    if left:
        raise ValueError("the customer holds less than the reversal takes back")
    order = [b.bill_id for b in bills_newest_first if b.bill_id in taken]
    return TakeBack(tuple((i, taken[i]) for i in order), from_wallet)


def take_back_expiry(expires_at: datetime | None, lengths: Sequence[timedelta], now: datetime) -> datetime | None:
    """Rule 2: the expiry once the paid periods of `lengths` are no longer paid (never before now, never later)."""
    if expires_at is None or not lengths:
        return expires_at
    moved = expires_at - sum(lengths, timedelta())
    return min(expires_at, max(moved, now))
