-- The portal's bills-and-payments pages show a customer their own receipts and invoices through the admin's
-- document code (radbill.services.reports), which reads the ledger lines a payment made and its reversals. In
-- the one-customer scope (0030) those rows were hidden: a receipt would have shown no bill paid. The customer
-- may read their own ledger entries (through their own ledger accounts, which 0030 already lets them read) and
-- the reversals of their own payments; nothing else, and never for writing.

SELECT radbill_customer_policies('payment_reversals'::regclass);

DROP POLICY IF EXISTS customer_read ON ledger_entries;
CREATE POLICY customer_read ON ledger_entries FOR SELECT TO radbill_app
    USING (account_id IN (SELECT a.id FROM ledger_accounts a WHERE a.customer_id = (SELECT radbill_scope_customer())));

-- A customer reports a "Send Money" transfer (radbill.services.transfers.submit, origin 'customer') from the
-- portal: they read the wallets of their operator's line (where to send it), read their own claims, and may add a
-- claim of their own that is unverified and names no staff; confirming or rejecting stays with staff.
DROP POLICY IF EXISTS customer_read ON operator_wallets;
CREATE POLICY customer_read ON operator_wallets FOR SELECT TO radbill_app
    USING (operator_id = ANY ((SELECT radbill_customer_lineage())::bigint[]));
DROP POLICY IF EXISTS customer_read ON wallet_transfers;
CREATE POLICY customer_read ON wallet_transfers FOR SELECT TO radbill_app
    USING (customer_id = (SELECT radbill_scope_customer()));
DROP POLICY IF EXISTS customer_submit ON wallet_transfers;
CREATE POLICY customer_submit ON wallet_transfers FOR INSERT TO radbill_app
    WITH CHECK (customer_id = (SELECT radbill_scope_customer()) AND origin = 'customer' AND status = 'unverified'
                AND submitted_by IS NULL AND decided_by IS NULL AND payment_id IS NULL);
