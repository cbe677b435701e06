-- Every bill carries the wholesale its payment in full takes from the sub-operator, fixed when the bill is issued
-- (radbill.services.billing's run for a period bill, radbill.services.package_change for a change charge); 0 for a
-- customer of an operator that is not a sub-operator. Before, a period bill read the assigned wholesale price when
-- it was paid, so a package change's credit could not lower the wholesale still to be taken on the period's unpaid
-- bill and returned it at once: wholesale given back that was never taken (kept if the bill was then voided).
-- Payment, reversal and void now read this one stored figure, and a wholesale price changed after a bill was issued
-- no longer changes that bill (its terms are fixed when issued).
ALTER TABLE bills DROP CONSTRAINT bills_wholesale_only_for_changes;

-- Existing bills get the figure paying them took or will take: the days' share of the price assigned now (the rule
-- radbill.billing.pricing.share_of_period, half-up). For a bill paid before this migration that is what a reversal
-- gave back before it too (it read today's price); the ledger's wholesale debits are per payment, not per bill, so
-- nothing more exact is known. One statement: a million bills are one pass, not a million.
UPDATE bills b
   SET wholesale_minor = CASE WHEN o.kind <> 'sub_operator' THEN 0
                              WHEN b.cycle_days IS NULL THEN coalesce(pa.wholesale_price_minor, 0)
                              ELSE (coalesce(pa.wholesale_price_minor, 0) * (b.period_end - b.period_start) * 2
                                    + b.cycle_days) / (2 * b.cycle_days) END
  FROM bills x
  JOIN operators o ON o.id = x.operator_id
  LEFT JOIN package_assignments pa ON pa.operator_id = x.operator_id AND pa.package_id = x.package_id
 WHERE b.id = x.id AND b.wholesale_minor IS NULL;

-- DEFAULT 0: a bill inserted without it takes no wholesale (a bill of an operator's own customer), as before.
-- wholesale_cut_minor: how much of it package change credits took off while the bill was unpaid (included in
-- wholesale_minor); a later change charge puts that back first, so a credit and the charge that reverses it leave
-- the bill as issued instead of the charge taking its wholesale on a bill of its own, paid at once by the credit.
ALTER TABLE bills
    ALTER COLUMN wholesale_minor SET DEFAULT 0,
    ALTER COLUMN wholesale_minor SET NOT NULL,
    ADD CONSTRAINT bills_wholesale_not_negative CHECK (wholesale_minor >= 0),
    ADD COLUMN wholesale_cut_minor bigint NOT NULL DEFAULT 0 CHECK (wholesale_cut_minor >= 0);

-- A package change credit for the days used of a period whose bill is not issued yet (postpaid, or a prepaid period
-- the run has not reached): that bill will take the new package's wholesale for the whole period, so the wholesale
-- difference of the days used waits here and the bill run takes it off that bill (the one ending on
-- wholesale_credit_until) instead of returning wholesale never taken. A later change charge takes it back first.
ALTER TABLE customers
    ADD COLUMN wholesale_credit_minor bigint NOT NULL DEFAULT 0 CHECK (wholesale_credit_minor >= 0),
    ADD COLUMN wholesale_credit_until date,
    ADD CONSTRAINT customers_wholesale_credit CHECK ((wholesale_credit_minor = 0) = (wholesale_credit_until IS NULL));
CREATE INDEX customers_wholesale_credit ON customers (id) WHERE wholesale_credit_until IS NOT NULL;
