-- The webhook deliveries log is purged by age (radbill.services.webhook_retention, a scheduler job): the oldest
-- rows first, a batch at a time, found by this index instead of a scan of the whole log per batch.
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
