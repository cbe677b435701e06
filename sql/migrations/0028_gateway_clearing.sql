-- Online payments post the money to a gateway clearing account (what a merchant account at a gateway should hold,
-- reconciled against the gateway's settlement) instead of the collector's cash; see README "Online payments".
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind_check CHECK (kind IN (
    'customer_advance', 'customer_receivable', 'operator_balance', 'cash', 'revenue', 'vat_payable', 'wholesale',
    'gateway_clearing'));
