-- Fair usage (issue 17 item 5): further data-cap tiers, data top-ups, and the tier-crossed SMS.
--
-- Tier 1 stays where it was (packages.data_cap_bytes + throttled_*_kbps: every package, form and test that uses
-- the single cap keeps working); package_cap_tiers holds the tiers after it (e.g. after 400 GB -> 5M), each with
-- a higher threshold and a lower rate (the catalog form validates it; radbill.policy.caps picks the tier).
CREATE TABLE package_cap_tiers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    package_id bigint NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    operator_id bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    after_bytes bigint NOT NULL CHECK (after_bytes > 0),
    download_kbps integer NOT NULL CHECK (download_kbps > 0),
    upload_kbps integer NOT NULL CHECK (upload_kbps > 0),
    UNIQUE (package_id, after_bytes)
);

-- Top-up packs an operator sells (its sub-operators' customers may buy them too: lineage read, as packages).
CREATE TABLE data_topup_packs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    bytes bigint NOT NULL CHECK (bytes > 0),
    price_minor bigint NOT NULL CHECK (price_minor >= 0),
    currency char(3) NOT NULL DEFAULT 'BDT',
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX data_topup_packs_name ON data_topup_packs (operator_id, lower(name));

-- A bought top-up: extra bytes for the cap window it was bought in (window_end names the window; the policy view
-- adds the top-ups of the current window, so the next window starts without them). Append-only money record:
-- the charge is the ledger transaction txn_id.
CREATE TABLE data_topups (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operators (id) ON DELETE RESTRICT,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE RESTRICT,
    pack_id bigint REFERENCES data_topup_packs (id),  -- packs are retired (active = false), never deleted once sold
    name text NOT NULL,
    bytes bigint NOT NULL CHECK (bytes > 0),
    price_minor bigint NOT NULL CHECK (price_minor >= 0),
    currency char(3) NOT NULL,
    window_start timestamptz NOT NULL,
    window_end timestamptz NOT NULL CHECK (window_end > window_start),
    txn_id uuid,
    created_by bigint REFERENCES accounts (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_topups_customer_window ON data_topups (customer_id, window_end);

SELECT radbill_tenant_policies('package_cap_tiers', 'operator_id', 'lineage', 'subtree');
SELECT radbill_tenant_policies('data_topup_packs', 'operator_id', 'lineage', 'subtree');
SELECT radbill_tenant_policies('data_topups', 'operator_id', 'subtree', 'subtree');
-- the portal's customer reads its package's tiers, the packs on offer and its own top-ups
CREATE POLICY customer_read ON package_cap_tiers FOR SELECT TO radbill_app
    USING (operator_id = ANY ((SELECT radbill_customer_lineage())::bigint[]));
CREATE POLICY customer_read ON data_topup_packs FOR SELECT TO radbill_app
    USING (operator_id = ANY ((SELECT radbill_customer_lineage())::bigint[]));
SELECT radbill_customer_policies('data_topups');

-- A tier edit or a top-up changes what the snapshot must hold for the package's (or the buyer's) customers.
CREATE FUNCTION notify_policy_cap_tier() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM pg_notify('radbill_policy', c.username) FROM customers c
     WHERE c.package_id IN (CASE WHEN TG_OP <> 'INSERT' THEN OLD.package_id END,
                            CASE WHEN TG_OP <> 'DELETE' THEN NEW.package_id END);
    RETURN NULL;
END $$;
CREATE TRIGGER package_cap_tiers_notify_policy AFTER INSERT OR UPDATE OR DELETE ON package_cap_tiers
    FOR EACH ROW EXECUTE FUNCTION notify_policy_cap_tier();

CREATE FUNCTION notify_policy_topup() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM pg_notify('radbill_policy', c.username) FROM customers c WHERE c.id = NEW.customer_id;
    RETURN NULL;
END $$;
CREATE TRIGGER data_topups_notify_policy AFTER INSERT ON data_topups
    FOR EACH ROW EXECUTE FUNCTION notify_policy_topup();
CREATE TRIGGER data_topups_append_only BEFORE UPDATE OR DELETE ON data_topups
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- The tiers after tier 1 (ascending thresholds, as parallel arrays: cheap for the snapshot to read) and the bytes
-- topped up for the current window, appended to the policy view.
CREATE OR REPLACE VIEW radius_policy AS
SELECT c.username,
       c.id AS customer_id,
       c.operator_id,
       c.radius_password AS password,
       c.status,
       c.expires_at,
       c.mac_address::text AS mac_address,
       host(c.static_ip) AS static_ip,
       c.simultaneous_use,
       p.download_kbps, p.upload_kbps,
       p.burst_download_kbps, p.burst_upload_kbps,
       p.burst_threshold_download_kbps, p.burst_threshold_upload_kbps, p.burst_time_seconds,
       p.ip_pool,
       p.data_cap_bytes, p.throttled_download_kbps, p.throttled_upload_kbps,
       coalesce(u.bytes, 0)::bigint AS usage_bytes,
       g.suspended_pool, g.suspended_rate_limit, g.suspended_session_timeout,
       w.window_start AS cap_window_start,
       w.window_end AS cap_window_end,
       p.router_profile,  -- 0035's column keeps its place
       t.after_bytes AS tier_after_bytes, t.download_kbps AS tier_download_kbps, t.upload_kbps AS tier_upload_kbps,
       coalesce(tu.bytes, 0)::bigint AS topup_bytes
  FROM customers c
  JOIN packages p ON p.id = c.package_id
  JOIN operators o ON o.id = c.operator_id
  JOIN billing_profiles bp ON bp.id = c.billing_profile_id
  LEFT JOIN LATERAL (
        SELECT a.suspended_pool, a.suspended_rate_limit, a.suspended_session_timeout
          FROM operators a
         WHERE a.path @> o.path AND a.suspended_pool IS NOT NULL
         ORDER BY nlevel(a.path) DESC
         LIMIT 1) g ON true
  LEFT JOIN LATERAL (
        SELECT * FROM radbill_cap_window(p.cap_period, o.timezone, bp.cycle_kind, bp.billing_day, bp.validity_days,
                                         coalesce(c.billing_anchor, (c.created_at AT TIME ZONE o.timezone)::date),
                                         radbill_now())
         WHERE p.data_cap_bytes IS NOT NULL) w ON true
  LEFT JOIN LATERAL (
        SELECT sum(CASE WHEN r.acctstarttime >= w.window_start AND r.acctstoptime <= w.window_end THEN r.octets
                        ELSE floor(r.octets * extract(epoch FROM least(r.acctstoptime, w.window_end)
                                                                 - greatest(r.acctstarttime, w.window_start))
                                   / nullif(extract(epoch FROM r.acctstoptime - r.acctstarttime), 0)) END) AS bytes
          FROM (SELECT coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0) AS octets,
                       acctstarttime, acctstoptime
                  FROM radacct
                 WHERE username = c.username
                   AND acctstoptime >= w.window_start
                   AND acctstarttime < w.window_end) r
        ) u ON w.window_start IS NOT NULL
  -- grouped joins, not LATERAL per customer: measured, per-row subqueries here made the full load ~40% slower
  LEFT JOIN (
        SELECT x.package_id,
               array_agg(x.after_bytes ORDER BY x.after_bytes) AS after_bytes,
               array_agg(x.download_kbps ORDER BY x.after_bytes) AS download_kbps,
               array_agg(x.upload_kbps ORDER BY x.after_bytes) AS upload_kbps
          FROM package_cap_tiers x GROUP BY x.package_id) t ON t.package_id = p.id AND w.window_start IS NOT NULL
  LEFT JOIN (
        SELECT d.customer_id, d.window_end, sum(d.bytes) AS bytes
          FROM data_topups d WHERE d.window_end > radbill_now()
         GROUP BY d.customer_id, d.window_end) tu ON tu.customer_id = c.id AND tu.window_end = w.window_end;

-- The SMS a customer gets when a tier slows them down (radbill/sms/text.py).
ALTER TABLE sms_templates DROP CONSTRAINT sms_templates_event_check;
ALTER TABLE sms_templates ADD CONSTRAINT sms_templates_event_check
    CHECK (event IN ('bill_generated', 'payment_received', 'account_suspended', 'account_activated',
                     'expiry_reminder', 'due_reminder', 'ticket_reply', 'portal_otp', 'cap_tier_crossed'));
