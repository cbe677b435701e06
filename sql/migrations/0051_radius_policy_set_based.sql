-- radius_policy without per-customer time-zone work (issue 19 #4: the snapshot at 1,000,000 subscribers).
--
-- The view as 0037 wrote it computed each capped customer's cap window by calling radbill_cap_window per row,
-- and looked up each customer's walled garden (nearest operator up the tree with one) per row. EXPLAIN ANALYZE at
-- 100,000 customers: the window alone was ~15 µs a row (radbill_now() parsed and the operator's time zone looked
-- up and applied several times per row), the walled-garden lookup ~4 µs: 2 of the view's ~3 s.
--
-- Nothing here decides differently; the same function computes every window, only fewer times:
--   * a calendar-month window and a fixed-billing-day window depend only on the operator's time zone, the
--     billing day and the time: radbill_cap_window is called once per time zone in use (and per billing day
--     1..31, the CHECK on billing_profiles.billing_day) per query, and rows pick theirs by subscript;
--   * a validity-days window depends on the customer's anchor: still radbill_cap_window per such row, with the
--     statement's radbill_now() evaluated once;
--   * the walled garden: once per operator (DISTINCT ON: the deepest operator on its path that has one).
-- Columns, order and types are unchanged (radbill_customer_policy returns SETOF radius_policy; grants stay).
-- tests/db/test_policy_view_equal.py compares every column with 0037's definition on a varied database.
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
       p.router_profile,
       t.after_bytes AS tier_after_bytes, t.download_kbps AS tier_download_kbps, t.upload_kbps AS tier_upload_kbps,
       coalesce(tu.bytes, 0)::bigint AS topup_bytes
  FROM customers c
  JOIN packages p ON p.id = c.package_id
  JOIN operators o ON o.id = c.operator_id
  JOIN billing_profiles bp ON bp.id = c.billing_profile_id
  LEFT JOIN (
        SELECT DISTINCT ON (x.id) x.id AS operator_id,
               a.suspended_pool, a.suspended_rate_limit, a.suspended_session_timeout
          FROM operators x
          JOIN operators a ON a.path @> x.path AND a.suspended_pool IS NOT NULL
         ORDER BY x.id, nlevel(a.path) DESC) g ON g.operator_id = o.id
  JOIN (SELECT z.timezone, n.at, m.window_start AS month_start, m.window_end AS month_end,
               f.starts AS fixed_starts, f.ends AS fixed_ends
          FROM (SELECT DISTINCT timezone FROM operators) z
         CROSS JOIN (SELECT radbill_now() AS at) n
         CROSS JOIN LATERAL radbill_cap_window('calendar_month', z.timezone, 'fixed_day', 1, NULL, NULL, n.at) m
         CROSS JOIN LATERAL (
                SELECT array_agg(x.window_start ORDER BY d) AS starts, array_agg(x.window_end ORDER BY d) AS ends
                  FROM generate_series(1, 31) d
                 CROSS JOIN LATERAL radbill_cap_window('billing_cycle', z.timezone, 'fixed_day', d, NULL, NULL,
                                                       n.at) x) f
       ) tz ON tz.timezone = o.timezone
 CROSS JOIN LATERAL (
        SELECT CASE WHEN p.data_cap_bytes IS NULL THEN NULL
                    WHEN p.cap_period = 'calendar_month' THEN tz.month_start
                    WHEN bp.cycle_kind = 'fixed_day' THEN tz.fixed_starts[bp.billing_day]
                    ELSE (SELECT v.window_start
                            FROM radbill_cap_window(p.cap_period, o.timezone, bp.cycle_kind, bp.billing_day,
                                                    bp.validity_days, coalesce(c.billing_anchor,
                                                    (c.created_at AT TIME ZONE o.timezone)::date), tz.at) v)
                    END AS window_start,
               CASE WHEN p.data_cap_bytes IS NULL THEN NULL
                    WHEN p.cap_period = 'calendar_month' THEN tz.month_end
                    WHEN bp.cycle_kind = 'fixed_day' THEN tz.fixed_ends[bp.billing_day]
                    ELSE (SELECT v.window_end
                            FROM radbill_cap_window(p.cap_period, o.timezone, bp.cycle_kind, bp.billing_day,
                                                    bp.validity_days, coalesce(c.billing_anchor,
                                                    (c.created_at AT TIME ZONE o.timezone)::date), tz.at) v)
                    END AS window_end) w
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
