-- The portal's bills-and-payments pages show a customer their own receipts and invoices through the admin's
-- document code (radbill.services.reports), which reads the ledger lines a payment made and its reversals. In
-- the one-customer scope (0030) those rows were hidden: a receipt would have shown no bill paid. The customer
-- may read their own ledger entries (through their own ledger accounts, which 0030 already lets them read) and
-- the reversals of their own payments; nothing else, and never for writing.

SELECT radbill_customer_policies('payment_reversals'::regclass);

DROP POLICY IF EXISTS customer_read ON ledger_entries;
CREATE POLICY customer_read ON ledger_entries FOR SELECT TO radbill_app
    USING (account_id IN (SELECT a.id FROM ledger_accounts a WHERE a.customer_id = (SELECT radbill_scope_customer())));
