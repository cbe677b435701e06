-- The dashboard at 1,000,000 customers (bench/README.md "make bench-admin-scale"): it aggregated the whole scope on
-- every load (12 s for the group admin at 1M). Now its figures come from per-operator counters, so a load reads
-- O(operators x buckets) rows, not O(customers).
--
-- Exact, never drifting: the counters are written by statement-level triggers in the same transaction as the
-- change, from the transition tables (one aggregate per statement, so a bill run of 700,000 bills adds one row
-- per operator, not 700,000 updates).
-- Contention-free: a trigger only APPENDS delta rows (+n / -n); it never updates a shared counter row, so two
-- transactions touching the same operator never wait for each other (an upserted counter would make every payment
-- wait behind a running bill run of its operator). radbill_compact_dashboard() folds the deltas into one row per
-- key (scheduler job dashboard.compact); a reader sums whatever is there, compacted or not.
-- Time-dependent: "expired" is an active customer whose expires_at <= now, which no trigger can know ahead. The
-- customers' counts are kept per UTC hour of expiry: every bucket before the current hour has expired, later ones
-- have not, and the current hour is counted exactly from customers (customers_expires index, one hour of rows).
-- Collections are kept per UTC hour of received_at, so a day or month in any whole-hour time zone is a sum of
-- buckets (radbill/services/dashboard.py falls back to the payments themselves for other zones).

CREATE TABLE dashboard_customer_counts (
    operator_id  bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    status       text NOT NULL,
    expires_hour timestamptz NOT NULL,  -- date_trunc('hour', expires_at, 'UTC'); 'infinity' for no expiry
    n            bigint NOT NULL
);
CREATE INDEX dashboard_customer_counts_operator ON dashboard_customer_counts (operator_id);

-- open bills (status unpaid or partial): how many, and what is left to pay on them
CREATE TABLE dashboard_bill_counts (
    operator_id bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    n           bigint NOT NULL,
    due_minor   numeric NOT NULL  -- numeric, as sum() gives: stored amounts near the bigint limit must add up
);
CREATE INDEX dashboard_bill_counts_operator ON dashboard_bill_counts (operator_id);

-- what stayed of each payment (amount - reversed; advances are not collections), per UTC hour received
CREATE TABLE dashboard_payment_sums (
    operator_id  bigint NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    hour         timestamptz NOT NULL,
    amount_minor numeric NOT NULL  -- (numeric: see due_minor)
);
CREATE INDEX dashboard_payment_sums_operator ON dashboard_payment_sums (operator_id, hour);

-- The one definition of each counter's key and value, used by the triggers, the backfill below and the compaction.
CREATE FUNCTION radbill_expiry_bucket(expires_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(date_trunc('hour', expires_at, 'UTC'), 'infinity') $$;

-- The changed rows as one set, each with d = +1 (new) or -1 (old). A transition table exists only for the events
-- that have it (a DELETE has no new_rows), so the triggers' queries are chosen by event and run through EXECUTE.
CREATE FUNCTION radbill_changed_rows(op text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE op WHEN 'INSERT' THEN 'SELECT *, 1 AS d FROM new_rows'
                   WHEN 'DELETE' THEN 'SELECT *, -1 AS d FROM old_rows'
                   ELSE 'SELECT *, 1 AS d FROM new_rows UNION ALL SELECT *, -1 FROM old_rows' END
$$;

CREATE FUNCTION dashboard_customers_delta() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE format('INSERT INTO dashboard_customer_counts (operator_id, status, expires_hour, n)'
                   ' SELECT operator_id, status, radbill_expiry_bucket(expires_at), sum(d) FROM (%s) x'
                   ' GROUP BY 1, 2, 3 HAVING sum(d) <> 0', radbill_changed_rows(TG_OP));
    RETURN NULL;
END $$;

CREATE FUNCTION dashboard_bills_delta() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE format('INSERT INTO dashboard_bill_counts (operator_id, n, due_minor)'
                   ' SELECT operator_id, sum(d), sum(d * (total_minor - paid_minor)) FROM (%s) x'
                   ' WHERE status IN (''unpaid'', ''partial'')'
                   ' GROUP BY 1 HAVING sum(d) <> 0 OR sum(d * (total_minor - paid_minor)) <> 0',
                   radbill_changed_rows(TG_OP));
    RETURN NULL;
END $$;

CREATE FUNCTION dashboard_payments_delta() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE format('INSERT INTO dashboard_payment_sums (operator_id, hour, amount_minor)'
                   ' SELECT operator_id, date_trunc(''hour'', received_at, ''UTC''),'
                   '        sum(d * (amount_minor - reversed_minor)) FROM (%s) x WHERE method <> ''advance'''
                   ' GROUP BY 1, 2 HAVING sum(d * (amount_minor - reversed_minor)) <> 0',
                   radbill_changed_rows(TG_OP));
    RETURN NULL;
END $$;

-- (transition tables need a trigger per event; the three share one function)
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['customers', 'bills', 'payments'] LOOP
        EXECUTE format('CREATE TRIGGER %1$s_dashboard_insert AFTER INSERT ON %1$s REFERENCING NEW TABLE AS new_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION dashboard_%1$s_delta()', t);
        EXECUTE format('CREATE TRIGGER %1$s_dashboard_update AFTER UPDATE ON %1$s'
                       ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION dashboard_%1$s_delta()', t);
        EXECUTE format('CREATE TRIGGER %1$s_dashboard_delete AFTER DELETE ON %1$s REFERENCING OLD TABLE AS old_rows'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION dashboard_%1$s_delta()', t);
    END LOOP;
END $$;

-- a TRUNCATE (never done by the app; by hand or a restore tool) empties the counters with the table
CREATE FUNCTION dashboard_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    EXECUTE format('DELETE FROM %I', TG_ARGV[0]);
    RETURN NULL;
END $$;
CREATE TRIGGER customers_dashboard_truncate AFTER TRUNCATE ON customers
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_truncated('dashboard_customer_counts');
CREATE TRIGGER bills_dashboard_truncate AFTER TRUNCATE ON bills
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_truncated('dashboard_bill_counts');
CREATE TRIGGER payments_dashboard_truncate AFTER TRUNCATE ON payments
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_truncated('dashboard_payment_sums');

-- Fold each key's deltas into one row (zero rows disappear). Concurrent writers keep appending meanwhile: the DELETE
-- removes only the rows this statement saw, and the sum of what it saw is put back in the same transaction.
CREATE FUNCTION radbill_compact_dashboard() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    before bigint := (SELECT count(*) FROM dashboard_customer_counts) + (SELECT count(*) FROM dashboard_bill_counts)
                     + (SELECT count(*) FROM dashboard_payment_sums);
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('radbill_compact_dashboard'));
    WITH gone AS (DELETE FROM dashboard_customer_counts RETURNING *)
    INSERT INTO dashboard_customer_counts (operator_id, status, expires_hour, n)
    SELECT operator_id, status, expires_hour, sum(n) FROM gone GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
    WITH gone AS (DELETE FROM dashboard_bill_counts RETURNING *)
    INSERT INTO dashboard_bill_counts (operator_id, n, due_minor)
    SELECT operator_id, sum(n), sum(due_minor) FROM gone GROUP BY 1 HAVING sum(n) <> 0 OR sum(due_minor) <> 0;
    WITH gone AS (DELETE FROM dashboard_payment_sums RETURNING *)
    INSERT INTO dashboard_payment_sums (operator_id, hour, amount_minor)
    SELECT operator_id, hour, sum(amount_minor) FROM gone GROUP BY 1, 2 HAVING sum(amount_minor) <> 0;
    RETURN before - (SELECT count(*) FROM dashboard_customer_counts) - (SELECT count(*) FROM dashboard_bill_counts)
           - (SELECT count(*) FROM dashboard_payment_sums);
END $$;

-- what is already there
INSERT INTO dashboard_customer_counts (operator_id, status, expires_hour, n)
SELECT operator_id, status, radbill_expiry_bucket(expires_at), count(*) FROM customers GROUP BY 1, 2, 3;
INSERT INTO dashboard_bill_counts (operator_id, n, due_minor)
SELECT operator_id, count(*), sum(total_minor - paid_minor) FROM bills WHERE status IN ('unpaid', 'partial') GROUP BY 1;
INSERT INTO dashboard_payment_sums (operator_id, hour, amount_minor)
SELECT operator_id, date_trunc('hour', received_at, 'UTC'), sum(amount_minor - reversed_minor)
  FROM payments WHERE method <> 'advance' GROUP BY 1, 2 HAVING sum(amount_minor - reversed_minor) <> 0;

SELECT radbill_tenant_policies(t, 'operator_id', 'subtree', 'subtree')
  FROM unnest(ARRAY['dashboard_customer_counts', 'dashboard_bill_counts', 'dashboard_payment_sums']::regclass[]) t;
-- read only: the rows are written by the triggers above (SECURITY DEFINER), never by the app itself
REVOKE ALL ON dashboard_customer_counts, dashboard_bill_counts, dashboard_payment_sums FROM radbill_app;
GRANT SELECT ON dashboard_customer_counts, dashboard_bill_counts, dashboard_payment_sums TO radbill_app;
REVOKE ALL ON FUNCTION radbill_compact_dashboard() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_compact_dashboard() TO radbill_app;

-- The customer search's pages in one operator's scope come in id order from this index (status, then newest first),
-- so a page of a rare status stops at once instead of walking every customer backwards by id (0049's README note).
-- It replaces (operator_id, status) of 0001, which it serves as well.
DROP INDEX customers_operator;
CREATE INDEX customers_operator ON customers (operator_id, status, id);

-- Who is online cannot be a trigger counter without a write per accounting packet on the RADIUS hot path (and a
-- customer with two sessions counts once). The scheduler (job dashboard.online, every minute) counts the open
-- sessions per operator in one pass; the dashboard shows that figure with its time, or counts live when the
-- figure is missing or older than five minutes (radbill/services/dashboard.py).
CREATE TABLE dashboard_online (
    operator_id bigint PRIMARY KEY REFERENCES operators (id) ON DELETE CASCADE,
    n           bigint NOT NULL,
    counted_at  timestamptz NOT NULL
);
SELECT radbill_tenant_policies('dashboard_online', 'operator_id', 'subtree', 'subtree');
REVOKE ALL ON dashboard_online FROM radbill_app;
GRANT SELECT ON dashboard_online TO radbill_app;

CREATE FUNCTION radbill_count_online() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH counted AS (
        INSERT INTO dashboard_online (operator_id, n, counted_at)
        SELECT o.id, coalesce(x.n, 0), now() FROM operators o
          LEFT JOIN (SELECT c.operator_id, count(DISTINCT r.username) AS n
                       FROM radacct r JOIN customers c ON c.username = r.username
                      WHERE r.acctstoptime IS NULL GROUP BY 1) x ON x.operator_id = o.id
        ON CONFLICT (operator_id) DO UPDATE SET n = excluded.n, counted_at = excluded.counted_at
        RETURNING n)
    SELECT coalesce(sum(n), 0)::bigint FROM counted
$$;
REVOKE ALL ON FUNCTION radbill_count_online() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_count_online() TO radbill_app;
