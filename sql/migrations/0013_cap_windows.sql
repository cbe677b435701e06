-- Data caps reset: usage is counted per the package's cap period (the calendar month in the operator's time zone,
-- or the customer's billing cycle), and the policy view says when the window ends so the RADIUS module can
-- refresh each customer at the boundary (before, usage was counted from when a row was loaded, for ever).

ALTER TABLE packages ADD COLUMN cap_period text NOT NULL DEFAULT 'calendar_month'
    CHECK (cap_period IN ('calendar_month', 'billing_cycle'));

-- "now" for the policy view. The RADIUS worker sets radbill.now (SET LOCAL) to its own clock, so the windows it
-- loads and the timer that refreshes them at the boundary agree; everyone else gets now().
CREATE FUNCTION radbill_now() RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('radbill.now', true), '')::timestamptz, now())
$$;

-- The data-cap window [window_start, window_end) holding `at`, as radbill.billing.periods.cap_window computes it
-- (a test holds them equal): local dates in `tz`, boundaries at local midnight. billing_cycle follows the billing
-- profile: fixed_day from the billing day of each month (or the month's last day when it is shorter: Jan 31 ->
-- Feb 28), validity_days from anchor + k * validity_days (extended backwards before the anchor).
-- RETURNS TABLE and one plain SELECT so the planner inlines it into the view; helper SQL functions inside would
-- not be inlined (an argument used twice) and cost ~50 us a row.
CREATE FUNCTION radbill_cap_window(cap_period text, tz text, cycle_kind text, billing_day integer,
                                   validity_days integer, anchor date, at timestamptz)
RETURNS TABLE (window_start timestamptz, window_end timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT w.s::timestamp AT TIME ZONE tz, w.e::timestamp AT TIME ZONE tz
      FROM (SELECT (at AT TIME ZONE tz)::date AS day) d
     CROSS JOIN LATERAL (SELECT date_trunc('month', d.day)::date AS m0) m
     CROSS JOIN LATERAL (  -- the billing day in last, this and next month
            SELECT least((m.m0 - interval '1 month')::date + (billing_day - 1), m.m0 - 1) AS prev_bd,
                   least(m.m0 + (billing_day - 1), (m.m0 + interval '1 month')::date - 1) AS this_bd,
                   least((m.m0 + interval '1 month')::date + (billing_day - 1),
                         (m.m0 + interval '2 months')::date - 1) AS next_bd,
                   anchor + validity_days * floor((d.day - anchor)::numeric / validity_days)::integer AS v0) b
     CROSS JOIN LATERAL (
            SELECT CASE WHEN cap_period = 'calendar_month' THEN m.m0
                        WHEN cycle_kind = 'fixed_day' THEN CASE WHEN d.day >= b.this_bd THEN b.this_bd ELSE b.prev_bd END
                        ELSE b.v0 END AS s,
                   CASE WHEN cap_period = 'calendar_month' THEN (m.m0 + interval '1 month')::date
                        WHEN cycle_kind = 'fixed_day' THEN CASE WHEN d.day >= b.this_bd THEN b.next_bd ELSE b.this_bd END
                        ELSE b.v0 + validity_days END AS e) w
$$;

-- Closed sessions in a window are found by when they stopped (a session that spans the boundary counts there too).
CREATE INDEX radacct_user_stop ON radacct (username, acctstoptime) WHERE acctstoptime IS NOT NULL;

-- usage_bytes (only for packages with a data cap) counts the CLOSED sessions of the current cap window; a session
-- that spans a boundary counts in each window in proportion to its time there (radacct keeps no octets at the
-- boundary), so no octet counts twice. The module adds open sessions' octets from accounting in memory (since the boundary).
-- The anchor of a validity cycle is the service start, as in radbill.services.billing (_SERVICE_START).
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
       w.window_end AS cap_window_end
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

-- The window depends on the billing profile, the service start and the operator's time zone: a change to any of
-- them changes what the snapshot must hold.
DROP TRIGGER customers_notify_policy ON customers;
CREATE TRIGGER customers_notify_policy
    AFTER INSERT OR DELETE OR UPDATE OF username, radius_password, status, expires_at, package_id,
        mac_address, static_ip, simultaneous_use, connection_type, operator_id, billing_profile_id, billing_anchor
    ON customers FOR EACH ROW EXECUTE FUNCTION notify_policy_customer();

CREATE FUNCTION notify_policy_billing_profile() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('radbill_policy', c.username) FROM customers c WHERE c.billing_profile_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER billing_profiles_notify_policy
    AFTER UPDATE OF cycle_kind, billing_day, validity_days ON billing_profiles FOR EACH ROW
    WHEN (OLD.cycle_kind IS DISTINCT FROM NEW.cycle_kind OR OLD.billing_day IS DISTINCT FROM NEW.billing_day
          OR OLD.validity_days IS DISTINCT FROM NEW.validity_days)
    EXECUTE FUNCTION notify_policy_billing_profile();

CREATE FUNCTION notify_policy_operator_timezone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('radbill_policy', c.username) FROM customers c WHERE c.operator_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER operators_notify_policy_timezone
    AFTER UPDATE OF timezone ON operators FOR EACH ROW
    WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION notify_policy_operator_timezone();
