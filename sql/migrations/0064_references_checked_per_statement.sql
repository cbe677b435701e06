-- The bill run's hot references are checked once per statement instead of once per row (issue 19 item 6).
--
-- A foreign key is a per-row trigger: every inserted row runs one SPI query against the referenced table, also for
-- a NULL key. At 1,000,000 customers the run inserts 1M bills (5 keys each), 3M ledger entries (4 keys each) and,
-- on the first run, 2M ledger accounts: ~20 per-row checks a bill, ~37% of the run's CPU under EXPLAIN
-- (bench/README.md, "What limits it"). The rule stays the same, checked set-based:
--
-- * An insert checks the statement's distinct keys in one query per column (radbill_check_references, AFTER
--   INSERT ... FOR EACH STATEMENT with the transition table); an UPDATE that changes a key column checks that row
--   (the same function, FOR EACH ROW). A missing key raises foreign_key_violation (23503) with the constraint name
--   the foreign key had, so radbill.errors maps it to the same field.
-- * 'lock' references (rows that may be deleted: customers, operators, packages, VAT profiles, staff accounts,
--   payments) take FOR KEY SHARE on the referenced rows, as a foreign key does; their tables refuse to delete
--   (or re-key) a referenced row (radbill_refuse_referenced, BEFORE DELETE OR UPDATE OF id FOR EACH ROW, and
--   BEFORE TRUNCATE). The race is closed by the row lock as a foreign key closes it: a DELETE locks its row before
--   its BEFORE trigger runs, so it waits for an inserter holding FOR KEY SHARE and then sees the inserter's rows
--   (READ COMMITTED: the trigger's query takes a new snapshot; radbill runs no transaction at a stricter level);
--   an inserter waiting on a row being deleted finds it gone and raises.
-- * 'exists' references point at permanent rows: bills and ledger accounts are never deleted (a bill is voided,
--   an account stays with its history) and their ids never change, which their own triggers now enforce; an
--   existence check needs no lock then. Those are the two busiest (each entry names its account and its bill):
--   locking 1M just-inserted bills would write a lock record for each.
--
-- Every other reference in the schema stays a foreign key. An import's rollback deletes customers and keeps those
-- the database refuses (asyncpg.ForeignKeyViolationError): the guard on customers raises the same error.

CREATE FUNCTION radbill_missing_referenced(target text, how text, ids bigint[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
-- One of `ids` (distinct, no NULL) that `target` has no row for, or NULL when every one is there. how = 'lock'
-- also takes FOR KEY SHARE on the rows (until the transaction ends), as a foreign key's check does.
DECLARE
    held bigint;
    missing bigint;
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN NULL;
    END IF;
    IF how NOT IN ('lock', 'exists') THEN
        RAISE EXCEPTION 'radbill_missing_referenced: unknown mode %', how;
    END IF;
    FOR attempt IN 1 .. 3 LOOP
        IF how = 'lock' THEN
            -- counted, not joined back: an anti-join against the locked rows was planned as a nested loop over
            -- them (100,000 x 100,000 for a batch of the bill run)
            EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I t WHERE t.id = ANY ($1) FOR KEY SHARE OF t) l',
                           target) INTO held USING ids;
            IF held = cardinality(ids) THEN
                RETURN NULL;
            END IF;
        END IF;
        EXECUTE format('SELECT i FROM unnest($1) i WHERE NOT EXISTS (SELECT 1 FROM %I t WHERE t.id = i) LIMIT 1',
                       target) INTO missing USING ids;
        -- 'lock': a row the lock did not see but this newer snapshot does was committed in between: lock again
        IF how = 'exists' OR missing IS NOT NULL THEN
            RETURN missing;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'the rows % refers to keep changing: try again', target USING ERRCODE = 'serialization_failure';
END $$;

-- TG_ARGV: (constraint name, column, referenced table, 'lock' | 'exists') repeated.
-- AFTER INSERT FOR EACH STATEMENT REFERENCING NEW TABLE AS new_rows: the statement's distinct keys;
-- AFTER UPDATE OF <columns> FOR EACH ROW: the row's keys that changed.
CREATE FUNCTION radbill_check_references() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    i int := 0;
    col text;
    ids bigint[];
    missing bigint;
BEGIN
    WHILE i + 3 < TG_NARGS LOOP
        col := TG_ARGV[i + 1];
        IF TG_LEVEL = 'STATEMENT' THEN
            EXECUTE format('SELECT array_agg(k) FROM (SELECT DISTINCT %1$I AS k FROM new_rows WHERE %1$I IS NOT NULL) d',
                           col) INTO ids;
        ELSE
            EXECUTE format('SELECT CASE WHEN ($1).%1$I IS NOT NULL AND ($1).%1$I IS DISTINCT FROM ($2).%1$I'
                           ' THEN ARRAY[($1).%1$I] END', col) INTO ids USING NEW, OLD;
        END IF;
        missing := radbill_missing_referenced(TG_ARGV[i + 2], TG_ARGV[i + 3], ids);
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', TG_TABLE_NAME, TG_ARGV[i]
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[i], TABLE = TG_TABLE_NAME,
                      DETAIL = format('Key (%s)=(%s) is not present in table "%s".', col, missing, TG_ARGV[i + 2]);
        END IF;
        i := i + 4;
    END LOOP;
    RETURN NULL;
END $$;

-- TG_ARGV: (constraint name, referencing table, column) repeated; none: the rows are permanent.
-- BEFORE DELETE OR UPDATE OF id FOR EACH ROW, and BEFORE TRUNCATE FOR EACH STATEMENT.
CREATE FUNCTION radbill_refuse_referenced() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    i int := 0;
    used boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    IF TG_NARGS = 0 THEN
        RAISE EXCEPTION '% rows are permanent: void or retire them instead of deleting', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation', TABLE = TG_TABLE_NAME;
    END IF;
    WHILE i + 2 < TG_NARGS LOOP
        IF TG_LEVEL = 'STATEMENT' THEN
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I IS NOT NULL)', TG_ARGV[i + 1], TG_ARGV[i + 2])
               INTO used;
        ELSE
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1)', TG_ARGV[i + 1], TG_ARGV[i + 2])
               INTO used USING OLD.id;
        END IF;
        IF used THEN
            RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on table "%"',
                  TG_TABLE_NAME, TG_ARGV[i], TG_ARGV[i + 1]
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[i], TABLE = TG_ARGV[i + 1],
                      DETAIL = CASE WHEN TG_LEVEL = 'ROW'
                                    THEN format('Key (id)=(%s) is still referenced from table "%s".', OLD.id, TG_ARGV[i + 1])
                                    ELSE format('Table "%s" references it.', TG_ARGV[i + 1]) END;
        END IF;
        i := i + 3;
    END LOOP;
    IF TG_LEVEL = 'STATEMENT' THEN
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;

ALTER TABLE bills DROP CONSTRAINT bills_customer_id_fkey, DROP CONSTRAINT bills_operator_id_fkey, DROP CONSTRAINT bills_package_id_fkey,
                  DROP CONSTRAINT bills_vat_profile_id_fkey, DROP CONSTRAINT bills_voided_by_fkey;
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_customer_id_fkey,
                            DROP CONSTRAINT ledger_accounts_operator_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_account_id_fkey, DROP CONSTRAINT ledger_entries_bill_id_fkey,
                           DROP CONSTRAINT ledger_entries_payment_id_fkey, DROP CONSTRAINT ledger_entries_created_by_fkey;

-- the referencing side; named so that each fires before the table's other AFTER triggers (alphabetical order), so
-- a missing key is reported as the foreign key it was and not by a counter table's own key
CREATE TRIGGER bills_check_references AFTER INSERT ON bills REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION radbill_check_references(
        'bills_customer_id_fkey', 'customer_id', 'customers', 'lock',
        'bills_operator_id_fkey', 'operator_id', 'operators', 'lock',
        'bills_package_id_fkey', 'package_id', 'packages', 'lock',
        'bills_vat_profile_id_fkey', 'vat_profile_id', 'vat_profiles', 'lock',
        'bills_voided_by_fkey', 'voided_by', 'accounts', 'lock');
CREATE TRIGGER bills_check_references_changed
    AFTER UPDATE OF customer_id, operator_id, package_id, vat_profile_id, voided_by ON bills
    FOR EACH ROW EXECUTE FUNCTION radbill_check_references(
        'bills_customer_id_fkey', 'customer_id', 'customers', 'lock',
        'bills_operator_id_fkey', 'operator_id', 'operators', 'lock',
        'bills_package_id_fkey', 'package_id', 'packages', 'lock',
        'bills_vat_profile_id_fkey', 'vat_profile_id', 'vat_profiles', 'lock',
        'bills_voided_by_fkey', 'voided_by', 'accounts', 'lock');

CREATE TRIGGER ledger_accounts_check_references AFTER INSERT ON ledger_accounts REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_check_references(
        'ledger_accounts_customer_id_fkey', 'customer_id', 'customers', 'lock',
        'ledger_accounts_operator_id_fkey', 'operator_id', 'operators', 'lock');
CREATE TRIGGER ledger_accounts_check_references_changed AFTER UPDATE OF customer_id, operator_id ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION radbill_check_references(
        'ledger_accounts_customer_id_fkey', 'customer_id', 'customers', 'lock',
        'ledger_accounts_operator_id_fkey', 'operator_id', 'operators', 'lock');

-- ledger entries are append-only (ledger_entries_append_only), so only inserts are checked
CREATE TRIGGER ledger_entries_check_references AFTER INSERT ON ledger_entries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_check_references(
        'ledger_entries_account_id_fkey', 'account_id', 'ledger_accounts', 'exists',
        'ledger_entries_bill_id_fkey', 'bill_id', 'bills', 'exists',
        'ledger_entries_payment_id_fkey', 'payment_id', 'payments', 'lock',
        'ledger_entries_created_by_fkey', 'created_by', 'accounts', 'lock');

-- the referenced side
CREATE TRIGGER bills_permanent BEFORE DELETE OR UPDATE OF id ON bills
    FOR EACH ROW EXECUTE FUNCTION radbill_refuse_referenced();
CREATE TRIGGER bills_permanent_truncate BEFORE TRUNCATE ON bills
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_refuse_referenced();
CREATE TRIGGER ledger_accounts_permanent BEFORE DELETE OR UPDATE OF id ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION radbill_refuse_referenced();
CREATE TRIGGER ledger_accounts_permanent_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_refuse_referenced();

CREATE TRIGGER customers_referenced BEFORE DELETE OR UPDATE OF id ON customers
    FOR EACH ROW EXECUTE FUNCTION radbill_refuse_referenced(
        'bills_customer_id_fkey', 'bills', 'customer_id',
        'ledger_accounts_customer_id_fkey', 'ledger_accounts', 'customer_id');
CREATE TRIGGER customers_referenced_truncate BEFORE TRUNCATE ON customers
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_refuse_referenced(
        'bills_customer_id_fkey', 'bills', 'customer_id',
        'ledger_accounts_customer_id_fkey', 'ledger_accounts', 'customer_id');
CREATE TRIGGER operators_referenced BEFORE DELETE OR UPDATE OF id ON operators
    FOR EACH ROW EXECUTE FUNCTION radbill_refuse_referenced(
        'bills_operator_id_fkey', 'bills', 'operator_id',
        'ledger_accounts_operator_id_fkey', 'ledger_accounts', 'operator_id');
CREATE TRIGGER operators_referenced_truncate BEFORE TRUNCATE ON operators
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_refuse_referenced(
        'bills_operator_id_fkey', 'bills', 'operator_id',
        'ledger_accounts_operator_id_fkey', 'ledger_accounts', 'operator_id');
CREATE TRIGGER packages_referenced BEFORE DELETE OR UPDATE OF id ON packages
    FOR EACH ROW EXECUTE FUNCTION radbill_refuse_referenced('bills_package_id_fkey', 'bills', 'package_id');
CREATE TRIGGER packages_referenced_truncate BEFORE TRUNCATE ON packages
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_refuse_referenced('bills_package_id_fkey', 'bills', 'package_id');
CREATE TRIGGER vat_profiles_referenced BEFORE DELETE OR UPDATE OF id ON vat_profiles
    FOR EACH ROW EXECUTE FUNCTION radbill_refuse_referenced('bills_vat_profile_id_fkey', 'bills', 'vat_profile_id');
CREATE TRIGGER vat_profiles_referenced_truncate BEFORE TRUNCATE ON vat_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_refuse_referenced('bills_vat_profile_id_fkey', 'bills', 'vat_profile_id');
CREATE TRIGGER accounts_referenced BEFORE DELETE OR UPDATE OF id ON accounts
    FOR EACH ROW EXECUTE FUNCTION radbill_refuse_referenced(
        'bills_voided_by_fkey', 'bills', 'voided_by',
        'ledger_entries_created_by_fkey', 'ledger_entries', 'created_by');
CREATE TRIGGER accounts_referenced_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_refuse_referenced(
        'bills_voided_by_fkey', 'bills', 'voided_by',
        'ledger_entries_created_by_fkey', 'ledger_entries', 'created_by');
CREATE TRIGGER payments_referenced BEFORE DELETE OR UPDATE OF id ON payments
    FOR EACH ROW EXECUTE FUNCTION radbill_refuse_referenced('ledger_entries_payment_id_fkey', 'ledger_entries', 'payment_id');
CREATE TRIGGER payments_referenced_truncate BEFORE TRUNCATE ON payments
    FOR EACH STATEMENT EXECUTE FUNCTION radbill_refuse_referenced('ledger_entries_payment_id_fkey', 'ledger_entries', 'payment_id');

-- The outbox's wake-up for inserted rows, once per statement: the bill run queues a million SMS in one INSERT, and
-- the row trigger called pg_notify for each (deduplicated only at commit). The same notifications: one per kind of
-- the statement's rows that are due now. A changed next_attempt_at still notifies per row (outbox_notify).
CREATE FUNCTION notify_outbox_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('radbill_outbox', d.kind)
       FROM (SELECT DISTINCT n.kind FROM new_rows n
              WHERE n.done_at IS NULL AND n.failed_at IS NULL AND n.next_attempt_at <= now()) d;
    RETURN NULL;
END $$;

DROP TRIGGER outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER UPDATE OF next_attempt_at ON outbox FOR EACH ROW
    WHEN (NEW.done_at IS NULL AND NEW.failed_at IS NULL AND NEW.next_attempt_at <= now())
    EXECUTE FUNCTION notify_outbox();
CREATE TRIGGER outbox_notify_inserted AFTER INSERT ON outbox REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION notify_outbox_inserted();

-- radbill_enqueue/radbill_enqueue_many name each row's destination themselves (radbill_outbox_destination, the one
-- rule); the row trigger that fills it in for any other INSERT need not run for theirs.
DROP TRIGGER outbox_destination ON outbox;
CREATE TRIGGER outbox_destination BEFORE INSERT ON outbox FOR EACH ROW WHEN (NEW.destination IS NULL)
    EXECUTE FUNCTION outbox_set_destination();

-- A customer's bills and a bill's ledger entries had no index to be found by: since 0034 the only index on
-- bills.customer_id is the partial unique one of period bills, so the portal's home, the customer's bills list and
-- a customer's deletion check read every bill; a void and a bill's payment list read every ledger entry. Both grow
-- by a million rows a month at 1,000,000 customers. Entries are written in bill order, so the second index grows
-- at its right edge.
CREATE INDEX bills_customer ON bills (customer_id, period_start, id);
CREATE INDEX ledger_entries_bill ON ledger_entries (bill_id) WHERE bill_id IS NOT NULL;

-- Nothing looks ledger entries up by their transaction any more: 0052's balance check sums the statement's own rows,
-- and pages find entries by account or bill. The index on the random txn_id cost every entry a write at a random
-- leaf, three million a month at 1,000,000 customers, in an index that outgrows memory within the year.
DROP INDEX ledger_entries_txn;
