"""Pure billing arithmetic: periods, prices, proration and money in minor units (no I/O).

The rules a bill and its payment follow (README "Bills, payments and expiry" says the same for operators):

1. A bill charges for its period: the local dates [period_start, period_end) in the operator's time zone
   (periods.py). A customer whose service starts after a period has begun (billing anchor, else the day it was
   created) is billed for [service start, period end) at the prorated price (pricing.first_period_price), and
   that shorter range IS the bill's period — a bill never names days it does not charge for. Later periods are
   whole. Free is never billed.
   When a bill is issued and due (periods.billable_periods, issue_date, due_date), with the profile's due days:
   - Prepaid: issued `max(due_days, 1)` days before its period starts (never before the previous period starts,
     for a validity cycle shorter than that) and due when the period starts. So advance credit pays it, and
     moves the expiry past the boundary, before the boundary comes; a customer without credit has the bill
     (and its SMS) in hand and keeps service across the boundary by paying before it. A run inside the lead
     window bills the current period (if not yet billed: a new customer's prorated first bill) and the next.
     Unpaid, the customer lapses at the old expiry (the "expired" suspension) and, with auto-suspend, is an
     unpaid-bill candidate from the period start + grace days.
   - Postpaid: issued the day its period ends, due `due_days` later; suspension from due + grace days.
2. A bill buys service only once it is paid in full (cash, advance credit or both). A partial payment is held
   against the bill and extends nothing: a period is sold whole, the reactivation and unpaid-bill-suspension
   rules need one meaning of "paid", and a customer paying a little at a time would otherwise never settle.
3. A fully paid bill extends the expiry by exactly its period's length, counted from the later of the current
   expiry and the period's start — or from "now", if that is earlier than the period's start (service.extend_expiry):
       new expiry = max(expiry, min(period start, now)) + (period end - period start)
   - Paid on time or late: the expiry is the period's end. Paying late gains no days; the days a lapsed
     customer spent cut off are not given back either (they were not paid for).
   - Paid early, or with an expiry already past the period's start (a manual extension): counted from the
     current expiry, never from "now", so no paid day is lost and none is granted twice.
   - Paid ahead (a prepaid bill is issued before its period) by a customer whose expiry falls short of the
     period's start: counted from the later of the expiry and "now". One expiry cannot leave a hole, so
     counting from the period's start would serve the days until then unpaid (a lapsed customer with an old
     bill still open). The usual case, expiry = the period's start, runs straight to the period's end.
   - Several bills paid by one payment or drawn from advance credit (a run may issue two at once): applied
     oldest period first, each from what the earlier ones left, chained.
   - The prorated first bill (27 Nov - 1 Dec) runs to 1 Dec 00:00 local time, not a month after the payment.
   - No expiry yet (NULL): prepaid counts from the period's start; postpaid keeps no expiry — postpaid service
     is used before it is billed, and due date + grace days (suspension) is what stops an unpaid customer.
4. Hence days of service granted are the days of the fully paid bills, and each bill's price is its days'
   share of the period price (rounded half-up to a minor unit): service granted is proportional to the money
   applied to fully paid bills (within one day's rounding) and never more than the money paid buys.
"""
