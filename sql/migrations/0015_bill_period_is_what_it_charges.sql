-- A bill's period is what it charges for (rule 1 in radbill.billing): a first bill prorated from the customer's
-- service start used to carry the whole cycle period (1 Nov - 1 Dec for a customer who joined on 27 Nov).
-- Those rows now start at the service start, the date their price was computed from, so invoices, receipts and
-- the expiry a payment grants all agree. The service start is the bill run's own: the billing anchor, else the
-- local date the customer was created. Expiries already granted are left alone: taking paid-for days back from
-- customers is the operator's call, not a migration's.
--
-- cycle_days: the length of the whole cycle period a bill belongs to (NULL: the bill is that whole period). A
-- part-period bill's reseller wholesale is prorated by it, as the customer's price is. Filled before the
-- periods move, while period_end - period_start is still the whole period.
ALTER TABLE bills ADD COLUMN IF NOT EXISTS cycle_days integer
    CONSTRAINT bills_cycle_days CHECK (cycle_days IS NULL OR cycle_days >= period_end - period_start);
UPDATE bills b
   SET cycle_days = b.period_end - b.period_start
  FROM customers c
  JOIN operators o ON o.id = c.operator_id
 WHERE c.id = b.customer_id
   AND coalesce(c.billing_anchor, (c.created_at AT TIME ZONE o.timezone)::date) > b.period_start
   AND coalesce(c.billing_anchor, (c.created_at AT TIME ZONE o.timezone)::date) < b.period_end;

UPDATE bills b
   SET period_start = s.service_start
  FROM customers c
  JOIN operators o ON o.id = c.operator_id
 CROSS JOIN LATERAL (SELECT coalesce(c.billing_anchor, (c.created_at AT TIME ZONE o.timezone)::date) AS service_start) s
 WHERE c.id = b.customer_id
   AND s.service_start > b.period_start AND s.service_start < b.period_end
   AND NOT EXISTS (SELECT 1 FROM bills other WHERE other.customer_id = b.customer_id
                                              AND other.period_start = s.service_start);
