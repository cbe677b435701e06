-- Package change billing (issue 17 item 8) and the portal's package change (issue 16 item 4).
-- radbill/billing/package_change.py is the rule; radbill/services/package_change.py applies it.

-- How a billing profile bills a package change:
--   prorate_now: the change applies at once; the price difference for the rest of the current period is charged
--                now (a bill of kind 'package_change') or, for a cheaper package, credited to the advance wallet;
--   upgrade_now: a dearer package as prorate_now, a cheaper one from the next period (what most ISPs do);
--   next_period: the new package (speed and price) applies from the next period; until then the old one stays.
ALTER TABLE billing_profiles
    ADD COLUMN change_billing text NOT NULL DEFAULT 'prorate_now'
        CHECK (change_billing IN ('prorate_now', 'upgrade_now', 'next_period'));

-- What a customer may do in the portal's "Change package": pay for an upgrade at once, send a request to staff,
-- or nothing (the page only lists the packages).
ALTER TABLE operators
    ADD COLUMN portal_package_change text NOT NULL DEFAULT 'request'
        CHECK (portal_package_change IN ('pay_now', 'request', 'off'));

-- A change that waits for the next period: the package and the instant (local midnight of the next period's
-- start) it takes over. The bill run prices periods starting from then with it; a job applies it.
ALTER TABLE customers
    ADD COLUMN next_package_id bigint REFERENCES packages (id),
    ADD COLUMN next_package_at timestamptz,
    ADD CONSTRAINT customers_next_package CHECK ((next_package_id IS NULL) = (next_package_at IS NULL));

-- A package change charge is a bill of its own kind: it names the days it charges for, but paying it buys no
-- days (the period's own bill did) and its reseller share is the wholesale difference fixed when it was issued.
-- Only period bills are one per customer and period start (two changes on one day are two charges).
ALTER TABLE bills
    ADD COLUMN kind text NOT NULL DEFAULT 'period' CHECK (kind IN ('period', 'package_change')),
    ADD COLUMN wholesale_minor bigint,
    ADD CONSTRAINT bills_wholesale_only_for_changes CHECK (kind = 'package_change' OR wholesale_minor IS NULL);
ALTER TABLE bills DROP CONSTRAINT bills_customer_id_period_start_key;
CREATE UNIQUE INDEX bills_one_per_period ON bills (customer_id, period_start) WHERE kind = 'period';

-- A portal "pay now" upgrade: the package the settled payment switches to (applied once, by settlement).
ALTER TABLE payment_intents
    ADD COLUMN package_id bigint REFERENCES packages (id),
    ADD COLUMN package_applied_at timestamptz;
