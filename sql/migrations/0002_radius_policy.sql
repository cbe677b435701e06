-- What the RADIUS module loads into its snapshot: one row per customer with everything authorize needs.
-- The walled garden comes from the nearest operator up the path that configures a suspended pool.
-- usage_bytes (only for packages with a data cap) counts the CLOSED sessions of the current period: since
-- the start of the paid validity (expires_at - validity) or, without an expiry, since the month began in the
-- operator's zone. The module adds open sessions' octets from accounting in memory.

CREATE INDEX radacct_user_start ON radacct (username, acctstarttime);

CREATE VIEW radius_policy AS
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
       g.suspended_pool, g.suspended_rate_limit, g.suspended_session_timeout
  FROM customers c
  JOIN packages p ON p.id = c.package_id
  JOIN operators o ON o.id = c.operator_id
  LEFT JOIN LATERAL (
        SELECT a.suspended_pool, a.suspended_rate_limit, a.suspended_session_timeout
          FROM operators a
         WHERE a.path @> o.path AND a.suspended_pool IS NOT NULL
         ORDER BY nlevel(a.path) DESC
         LIMIT 1) g ON true
  LEFT JOIN LATERAL (
        SELECT sum(coalesce(r.acctinputoctets, 0) + coalesce(r.acctoutputoctets, 0)) AS bytes
          FROM radacct r
         WHERE p.data_cap_bytes IS NOT NULL
           AND r.username = c.username
           AND r.acctstoptime IS NOT NULL
           AND r.acctstarttime >= coalesce(c.expires_at - make_interval(days => p.validity_days),
                                           date_trunc('month', now() AT TIME ZONE o.timezone) AT TIME ZONE o.timezone)
        ) u ON true;

-- rlm_sql's stock accounting-on/off queries record NAS reboots here (stock FreeRADIUS schema).
CREATE TABLE nasreload (
    nasipaddress        inet PRIMARY KEY,
    reloadtime          timestamptz NOT NULL
);
