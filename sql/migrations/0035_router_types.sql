-- Router types (vendor profiles, radbill/policy/vendors.py) and a router profile per package (issue 17, items 1-2).

-- A router's type decides which attributes carry the rate, pool and profile, and what its Disconnect/CoA-Requests
-- hold. 'other' was "a router that is not a MikroTik": the generic (standard attributes + WISPr) type now.
ALTER TABLE nas DROP CONSTRAINT nas_type_check;
UPDATE nas SET type = 'generic' WHERE type = 'other';
ALTER TABLE nas ADD CONSTRAINT nas_type_check
    CHECK (type IN ('mikrotik', 'cisco', 'juniper', 'huawei', 'accel_ppp', 'generic'));

-- The profile/group the router applies to the package's sessions (MikroTik PPP profile = Mikrotik-Group, an ISG
-- service, a Huawei/Juniper QoS profile...): a name the router already has, so only a plain name is allowed.
ALTER TABLE packages ADD COLUMN router_profile text
    CONSTRAINT packages_router_profile_check CHECK (router_profile ~ '^[A-Za-z0-9_.-]{1,64}$');

-- the policy snapshot carries the profile (appended: CREATE OR REPLACE VIEW may only add columns at the end)
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
       p.router_profile
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
        ) u ON w.window_start IS NOT NULL;
