-- The ledger's balance check (0009) sums the statement's own rows only, instead of joining every transaction it
-- touched back to ledger_entries through the txn_id index: in the bill run's entries INSERT (3 rows a bill) that
-- join was 1.9 s of 22.7 s at 300,000 customers (bench/billing_explain.py).
--
-- The same rule: since 0009 every statement leaves each transaction it touched balanced, and entries are never
-- changed or deleted (ledger_entries_append_only, ledger_entries_no_truncate), so the rows of a transaction that
-- were there before this statement sum to zero per currency; the transaction balances after the statement iff the
-- statement's own rows of it sum to zero. (Rows from before 0009 were checked at commit by 0001's deferred
-- trigger.) Adding a leg to a balanced transaction is still refused: its own sum is not zero.
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    unbalanced record;
BEGIN
    SELECT i.txn_id, i.currency INTO unbalanced
      FROM inserted i
     GROUP BY i.txn_id, i.currency
    HAVING sum(i.amount_minor) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %', unbalanced.txn_id, unbalanced.currency
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
