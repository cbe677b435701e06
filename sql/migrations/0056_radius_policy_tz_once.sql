-- radius_policy: the per-time-zone windows computed once per query (issue 19 #4: the snapshot at 1,000,000
-- subscribers), as 0051 meant.
--
-- 0051 computes the calendar-month and billing-day windows in a subquery (tz) once per time zone in use. The
-- planner pulled that subquery up into the outer query, so each window was again an expression over the
-- operator's time zone and radbill_now() (radbill.now parsed) evaluated per row, several times a row (the
-- window's start and end, the top-up and tier join filters, the usage probe's bounds). EXPLAIN ANALYZE at
-- 1,000,000 customers showed those expressions inline in every join filter. OFFSET 0 keeps tz a subquery the
-- planner cannot pull up: it is computed once and the rows read its values. DECLARE + MOVE FORWARD ALL of the
-- whole view at 1,000,000 customers (bench/README.md): 6.4-7.5 s -> 2.7-4.4 s on the same database.
-- Nothing else changes: columns, order, types and every value (tests/db/test_policy_view_equal.py compares
-- every column with 0037's definition on a varied database at seven instants).
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
        OFFSET 0
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
