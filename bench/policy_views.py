"""Earlier definitions of the `radius_policy` view, for benches to time beside the current one and for
tests/db/test_policy_view_equal.py to compare it with."""

# 0037's definition, verbatim (0043 only rebound it to the partitioned radacct, which keeps the name)
VIEW_0037 = """
CREATE VIEW radius_policy_0037 AS
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
"""
