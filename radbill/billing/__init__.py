"""Pure billing arithmetic: periods, prices, proration and money in minor units (no I/O).

The rules a bill and its payment follow (README "Bills, payments and expiry" says the same for operators):

1. A bill charges for its period: the local dates [period_start, period_end) in the operator's time zone
   (periods.py). A customer whose service starts after a period has begun (billing anchor, else the day it was
   created) is billed for [service start, period end) at the prorated price (pricing.first_period_price), and
   that shorter range IS the bill's period — a bill never names days it does not charge for. Later periods are
   whole. Prepaid bills a period when it starts; postpaid once it has ended; free is never billed.
2. A bill buys service only once it is paid in full (cash, advance credit or both). A partial payment is held
   against the bill and extends nothing: a period is sold whole, the reactivation and unpaid-bill-suspension
   rules need one meaning of "paid", and a customer paying a little at a time would otherwise never settle.
3. A fully paid bill extends the expiry by exactly its period's length, counted from the later of the current
   expiry and the period's start (service.extend_expiry):
       new expiry = max(expiry, period start) + (period end - period start)
   - Paid on time or late: the expiry is the period's end. Paying late gains no days; the days a lapsed
     customer spent cut off are not given back either (they were not paid for).
   - Paid early, or with an expiry already past the period's start (a manual extension): counted from the
     current expiry, never from "now", so no paid day is lost and none is granted twice.
   - Several bills paid by one payment or drawn from advance credit: applied oldest period first, chained.
   - The prorated first bill (27 Nov - 1 Dec) runs to 1 Dec 00:00 local time, not a month after the payment.
   - No expiry yet (NULL): prepaid counts from the period's start; postpaid keeps no expiry — postpaid service
     is used before it is billed, and due date + grace days (suspension) is what stops an unpaid customer.
4. Hence days of service granted are the days of the fully paid bills, and each bill's price is its days'
   share of the period price (rounded half-up to a minor unit): service granted is proportional to the money
   applied to fully paid bills (within one day's rounding) and never more than the money paid buys.
"""
