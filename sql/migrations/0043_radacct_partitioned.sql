-- radacct partitioned by month of acctstarttime (issue 19 #5): accounting grows by millions of rows a month, and
-- with one table every index on it grows forever and removing old sessions is a DELETE of millions of rows. Native
-- RANGE partitions by UTC month: each month's indexes stay the size of a month, the queries that name a time window
-- (cap windows, reports, usage) read only the months they need, and old months leave by DROP (radbill_radacct_archive).
--
-- Why acctstarttime: the fold always fills it (a Start's time, an Interim's or Stop's arrival, or Stop minus
-- Acct-Session-Time), and it never changes once a session is closed. Rows without one (other writers: the stock
-- schema allows NULL) or outside every month land in radacct_default, which always exists, so an insert never
-- fails for a missing month; radbill_radacct_prepare() (scheduler/radacct_jobs.py, daily) keeps the current and
-- next two months ready.
--
-- Uniqueness: a unique constraint on a partitioned table must contain the partition key, so acctuniqueid alone can
-- no longer be UNIQUE: it is UNIQUE (acctuniqueid, acctstarttime). The fold (the one writer, serialised by its
-- advisory lock) finds a session's row by acctuniqueid in every partition before inserting, which keeps it one row per
-- session; the btree's leading column answers that lookup (one probe per partition: ~15 partitions with a year kept).
-- The old unique index on radacctid (the primary key) is gone: nothing looks a row up by it, and it was one more
-- index per insert. The fold's UPDATE now finds its row by acctuniqueid (the open-session index of each partition).
--
-- The stock rlm_sql accounting queries use ON CONFLICT (AcctUniqueId), which no partitioned table can serve; radbill
-- never runs them (FreeRADIUS writes radacct_journal, migration 0011). Stock READ queries (simultaneous-use counts,
-- sessions by user) work unchanged. bench/raddb_stock_sql writes its own unpartitioned table for the comparison.
--
-- Production with a large radacct: this migration copies every row in one transaction holding radacct's lock (fine
-- up to a few million rows; minutes beyond). For a bigger table do it in steps first, outside the migration:
-- create the partitioned table under another name with the same partitions, copy month by month (INSERT ... SELECT
-- WHERE acctstarttime in the month, closed sessions first) while FreeRADIUS keeps writing the journal (the fold is
-- paused by holding its advisory lock only for the final delta), then swap names in one short transaction; the
-- journal holds the packets that arrive meanwhile, so nothing is lost. README.md, "Archiving".

-- radius_policy reads radacct by name: its definition is kept to rebind it to the new table
CREATE TEMP TABLE radacct_view_def ON COMMIT DROP AS SELECT pg_get_viewdef('radius_policy'::regclass) AS def;

ALTER TABLE radacct RENAME TO radacct_unpartitioned;
ALTER TABLE radacct_unpartitioned DROP CONSTRAINT radacct_pkey, DROP CONSTRAINT radacct_acctuniqueid_key;
DROP INDEX radacct_active_session_idx, radacct_bulk_close, radacct_start_user_idx, radacct_open_user,
           radacct_class_idx, radacct_user_start, radacct_user_stop, radacct_open_framed_ip;
DROP TRIGGER radacct_heard ON radacct_unpartitioned;
ALTER TABLE radacct_unpartitioned ALTER COLUMN radacctid DROP DEFAULT;
ALTER SEQUENCE radacct_radacctid_seq OWNED BY NONE;

CREATE TABLE radacct (
    radacctid           bigint NOT NULL DEFAULT nextval('radacct_radacctid_seq'),
    acctsessionid       text NOT NULL,
    acctuniqueid        text NOT NULL,
    username            text,
    realm               text,
    nasipaddress        inet NOT NULL,
    nasportid           text,
    nasporttype         text,
    acctstarttime       timestamptz,
    acctupdatetime      timestamptz,
    acctstoptime        timestamptz,
    acctinterval        bigint,
    acctsessiontime     bigint,
    acctauthentic       text,
    connectinfo_start   text,
    connectinfo_stop    text,
    acctinputoctets     bigint,
    acctoutputoctets    bigint,
    calledstationid     text,
    callingstationid    text,
    acctterminatecause  text,
    servicetype         text,
    framedprotocol      text,
    framedipaddress     inet,
    framedipv6address   inet,
    framedipv6prefix    inet,
    framedinterfaceid   text,
    delegatedipv6prefix inet,
    class               text,
    heard_at            timestamptz,
    CONSTRAINT radacct_session_key UNIQUE (acctuniqueid, acctstarttime)
) PARTITION BY RANGE (acctstarttime);
ALTER SEQUENCE radacct_radacctid_seq OWNED BY radacct.radacctid;
CREATE TABLE radacct_default PARTITION OF radacct DEFAULT;

-- every index radacct had, now one per partition (created on each month as it is made)
CREATE INDEX radacct_active_session_idx ON radacct (acctuniqueid) WHERE acctstoptime IS NULL;
CREATE INDEX radacct_bulk_close ON radacct (nasipaddress, acctstarttime) WHERE acctstoptime IS NULL;
CREATE INDEX radacct_start_user_idx ON radacct (acctstarttime, username);
CREATE INDEX radacct_open_user ON radacct (username) WHERE acctstoptime IS NULL;
CREATE INDEX radacct_class_idx ON radacct (class);
CREATE INDEX radacct_user_start ON radacct (username, acctstarttime);
CREATE INDEX radacct_user_stop ON radacct (username, acctstoptime) WHERE acctstoptime IS NOT NULL;
CREATE INDEX radacct_open_framed_ip ON radacct (framedipaddress) WHERE acctstoptime IS NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON radacct TO radbill_app;
GRANT SELECT, INSERT, UPDATE ON radacct TO radbill_radius;

-- The partition for the UTC month holding `at`, created when missing. Rows the default partition holds for that
-- month move into it first (Postgres refuses the new partition otherwise). SECURITY DEFINER: the scheduler's role
-- owns nothing and may not create tables.
CREATE FUNCTION radbill_radacct_partition(at timestamptz) RETURNS regclass
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    month_start timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
    lo timestamptz := month_start AT TIME ZONE 'UTC';
    hi timestamptz := (month_start + interval '1 month') AT TIME ZONE 'UTC';
    part text := 'radacct_' || to_char(month_start, 'YYYY_MM');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part::regclass;
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS radacct_stray (LIKE radacct) ON COMMIT DROP;
    DELETE FROM radacct_stray;
    WITH moved AS (
        DELETE FROM radacct_default WHERE acctstarttime >= lo AND acctstarttime < hi RETURNING *
    )
    INSERT INTO radacct_stray SELECT * FROM moved;
    EXECUTE format('CREATE TABLE %I PARTITION OF radacct FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
    EXECUTE format('INSERT INTO %I SELECT * FROM radacct_stray', part);
    RETURN part::regclass;
END $$;

-- The current UTC month and the next `months_ahead` exist: the fold never writes a current session to the default.
CREATE FUNCTION radbill_radacct_prepare(months_ahead integer DEFAULT 2) RETURNS SETOF regclass
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT radbill_radacct_partition(((now() AT TIME ZONE 'UTC') + make_interval(months => m)) AT TIME ZONE 'UTC')
      FROM generate_series(0, greatest(months_ahead, 0)) AS m
$$;

-- Where archived sessions go: the same columns plus when they left radacct. A plain table with one index: cheap to
-- append to, read rarely (a customer's old history, an audit), and dumpable/truncatable by the operator on their own
-- schedule (README.md, "Archiving").
CREATE TABLE radacct_archive (LIKE radacct);
ALTER TABLE radacct_archive ADD COLUMN archived_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX radacct_archive_user_start ON radacct_archive (username, acctstarttime);
REVOKE UPDATE, DELETE ON radacct_archive FROM radbill_app;

-- Closed sessions that started before the UTC month `keep_months` months back move to radacct_archive. A month
-- partition with no open session left is detached and dropped (its rows archived first); one still holding an open
-- session keeps it (and only it) until a later run: an open session is never archived, so its Stop still finds it.
-- Takes the fold's lock: no packet changes a session while its row moves. One row per partition it touched.
CREATE FUNCTION radbill_radacct_archive(keep_months integer)
RETURNS TABLE (partition_name text, archived bigint, dropped boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cutoff timestamptz := (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => keep_months))
                          AT TIME ZONE 'UTC';
    part record;
    n bigint;
BEGIN
    IF keep_months IS NULL OR keep_months < 1 THEN
        RAISE EXCEPTION 'keep_months must be at least 1, not %', keep_months;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('radbill_fold_accounting'));
    FOR part IN
        SELECT c.relname
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'radacct'::regclass AND c.relname ~ '^radacct_[0-9]{4}_[0-9]{2}$'
           AND (make_timestamp(substr(c.relname, 9, 4)::int, substr(c.relname, 14, 2)::int, 1, 0, 0, 0)
                + interval '1 month') AT TIME ZONE 'UTC' <= cutoff  -- the month has ended before the cutoff
         ORDER BY c.relname
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE acctstoptime IS NULL)', part.relname) INTO dropped;
        IF dropped THEN  -- an open session: archive the closed ones, keep the partition
            EXECUTE format('WITH moved AS (DELETE FROM %I WHERE acctstoptime IS NOT NULL RETURNING *)
                            INSERT INTO radacct_archive SELECT moved.*, now() FROM moved', part.relname);
            GET DIAGNOSTICS n = ROW_COUNT;
            dropped := false;
        ELSE
            EXECUTE format('INSERT INTO radacct_archive SELECT p.*, now() FROM %I p', part.relname);
            GET DIAGNOSTICS n = ROW_COUNT;
            EXECUTE format('ALTER TABLE radacct DETACH PARTITION %I', part.relname);
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := true;
        END IF;
        IF dropped OR n > 0 THEN  -- a month left with open sessions only is no news
            partition_name := part.relname;
            archived := n;
            RETURN NEXT;
        END IF;
    END LOOP;
    -- closed sessions the default partition holds from before the cutoff (no start time: their stop decides)
    WITH moved AS (
        DELETE FROM radacct_default
         WHERE acctstoptime IS NOT NULL AND coalesce(acctstarttime, acctstoptime) < cutoff
        RETURNING *
    )
    INSERT INTO radacct_archive SELECT moved.*, now() FROM moved;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        partition_name := 'radacct_default';
        archived := n;
        dropped := false;
        RETURN NEXT;
    END IF;
END $$;

REVOKE ALL ON FUNCTION radbill_radacct_partition(timestamptz), radbill_radacct_prepare(integer),
                       radbill_radacct_archive(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_radacct_prepare(integer), radbill_radacct_archive(integer) TO radbill_app;

-- the months the existing rows need (from two years back to two months ahead; rows with older or stranger times stay
-- in the default partition), the current one and two ahead; then the rows, with their heard_at as they were (the
-- trigger comes after)
SELECT radbill_radacct_partition(m AT TIME ZONE 'UTC')
  FROM (SELECT date_trunc('month', greatest(min(acctstarttime), now() - interval '24 months') AT TIME ZONE 'UTC') AS lo,
               date_trunc('month', least(max(acctstarttime), now() + interval '2 months') AT TIME ZONE 'UTC') AS hi
          FROM radacct_unpartitioned HAVING min(acctstarttime) IS NOT NULL) b,
       generate_series(b.lo, b.hi, interval '1 month') AS m;
SELECT radbill_radacct_prepare(2);
INSERT INTO radacct SELECT * FROM radacct_unpartitioned;

CREATE TRIGGER radacct_heard BEFORE INSERT OR UPDATE ON radacct FOR EACH ROW EXECUTE FUNCTION radacct_heard();

DO $$
BEGIN
    EXECUTE 'CREATE OR REPLACE VIEW radius_policy AS ' || (SELECT def FROM radacct_view_def);
END $$;
DROP TABLE radacct_unpartitioned;

-- The fold as 0012 wrote it, with what a partitioned radacct needs: the insert's conflict target is the session key
-- (acctuniqueid, acctstarttime); the update finds its row by acctuniqueid (indexed in every partition) instead of
-- radacctid (no longer indexed); and a session's row is looked up once (sess keeps it for folded), because each
-- lookup by acctuniqueid is now one index probe per partition.
CREATE OR REPLACE FUNCTION radbill_fold_accounting(max_rows integer DEFAULT 20000, wait boolean DEFAULT false)
RETURNS SETOF radacct_journal
LANGUAGE plpgsql AS $$
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(hashtext('radbill_fold_accounting'));
    ELSIF NOT pg_try_advisory_xact_lock(hashtext('radbill_fold_accounting')) THEN
        RETURN;
    END IF;
    IF to_regclass('pg_temp.acct_batch') IS NULL THEN
        CREATE TEMP TABLE acct_batch (LIKE radacct_journal) ON COMMIT DELETE ROWS;
    END IF;
    DELETE FROM acct_batch;
    WITH taken AS (
        DELETE FROM radacct_journal
         WHERE id IN (SELECT q.id FROM radacct_journal q ORDER BY q.id LIMIT max_rows)
        RETURNING *
    )
    INSERT INTO acct_batch SELECT * FROM taken;
    IF NOT FOUND THEN
        RETURN;  -- the idle poll: no ANALYZE, no statements (the worker calls this ~10 times a second)
    END IF;
    UPDATE radacct_fold_state SET worker_idle = false WHERE worker_idle;  -- busy: it looks again after this fold
    ANALYZE acct_batch;  -- temporary tables have no statistics otherwise: the joins below must use radacct's index

    RETURN QUERY SELECT * FROM acct_batch b WHERE b.status IN ('Accounting-On', 'Accounting-Off') ORDER BY b.id;

    -- sessions of a restarted NAS the batch does not otherwise mention: the first On/Off closes them
    IF EXISTS (SELECT 1 FROM acct_batch b WHERE b.status IN ('Accounting-On', 'Accounting-Off')) THEN
        RETURN QUERY
        WITH first_event AS (
            SELECT DISTINCT ON (b.nasipaddress) b.* FROM acct_batch b
             WHERE b.status IN ('Accounting-On', 'Accounting-Off') ORDER BY b.nasipaddress, b.id
        ), closed AS (
            UPDATE radacct r
               SET acctstoptime = e.event_time, acctupdatetime = e.event_time,
                   acctsessiontime = greatest(0, extract(epoch FROM e.event_time - r.acctstarttime)::bigint),
                   acctterminatecause = coalesce(nullif(e.terminatecause, ''), 'NAS-Reboot')
              FROM first_event e
             WHERE r.acctstoptime IS NULL AND r.nasipaddress = e.nasipaddress
               AND NOT EXISTS (SELECT 1 FROM acct_batch b WHERE b.acctuniqueid = r.acctuniqueid
                                                AND b.status IN ('Start', 'Interim-Update', 'Stop'))
            RETURNING e.id, r.*
        )
        SELECT c.id, 'Stop', c.acctsessionid, c.acctuniqueid, c.username, c.realm, c.nasipaddress, c.nasportid,
               c.nasporttype, c.acctstoptime, c.acctsessiontime, c.acctauthentic, c.connectinfo_stop,
               c.acctinputoctets, c.acctoutputoctets, c.calledstationid, c.callingstationid, c.acctterminatecause,
               c.servicetype, c.framedprotocol, c.framedipaddress, c.framedipv6address, c.framedipv6prefix,
               c.framedinterfaceid, c.delegatedipv6prefix, c.class
          FROM closed c ORDER BY c.id, c.acctuniqueid;
        INSERT INTO nasreload AS n (nasipaddress, reloadtime)
        SELECT DISTINCT ON (b.nasipaddress) b.nasipaddress, b.event_time FROM acct_batch b
         WHERE b.status IN ('Accounting-On', 'Accounting-Off') ORDER BY b.nasipaddress, b.id DESC
            ON CONFLICT (nasipaddress) DO UPDATE SET reloadtime = excluded.reloadtime;
    END IF;

    -- every session the batch speaks of: its row as the packets one by one would leave it, written and handed back
    RETURN QUERY
    WITH nas_event AS MATERIALIZED (  -- usually none: scanned once, not once per session
        SELECT b.id, b.nasipaddress FROM acct_batch b WHERE b.status IN ('Accounting-On', 'Accounting-Off')
    ), sess AS (  -- each session the batch speaks of, its row before the batch, and where it ends
        SELECT s.acctuniqueid, s.first_id, s.last_id, r.radacctid IS NOT NULL AS existed, r AS prev,
               least(s.first_stop, (SELECT min(e.id) FROM nas_event e
                                     WHERE e.nasipaddress = coalesce(r.nasipaddress, f.nasipaddress)
                                       AND (r.radacctid IS NOT NULL OR e.id > s.first_id))) AS cut_id
          FROM (SELECT b.acctuniqueid, min(b.id) AS first_id, max(b.id) AS last_id,
                       min(b.id) FILTER (WHERE b.status = 'Stop') AS first_stop
                  FROM acct_batch b WHERE b.status IN ('Start', 'Interim-Update', 'Stop')
                 GROUP BY b.acctuniqueid) s
          JOIN acct_batch f ON f.id = s.first_id
          -- LATERAL: always an index probe per month; as a plain join of a 5,000-session batch the planner costed
          -- 16 probes per session above a hash join over every month's rows, and chose the scan (measured: 6x slower
          -- per row at 2M rows; bench/accounting_size.py). At most one row per session: LIMIT 1 stops at the first.
          LEFT JOIN LATERAL (SELECT * FROM radacct x WHERE x.acctuniqueid = s.acctuniqueid LIMIT 1) r ON true
         WHERE r.radacctid IS NULL OR r.acctstoptime IS NULL  -- a closed session never changes
    ), live AS (  -- the Starts and Interims a session took while open, with the update time each one found
        SELECT b.*, lag(b.event_time) OVER (PARTITION BY b.acctuniqueid ORDER BY b.id) AS prev_time
          FROM acct_batch b JOIN sess s ON s.acctuniqueid = b.acctuniqueid
         WHERE b.status IN ('Start', 'Interim-Update') AND b.id < coalesce(s.cut_id, 9223372036854775807)
    ), last AS (
        SELECT l.acctuniqueid, max(l.id) AS any_id, max(l.id) FILTER (WHERE l.status = 'Start') AS start_id,
               max(l.id) FILTER (WHERE l.status = 'Interim-Update') AS interim_id
          FROM live l GROUP BY l.acctuniqueid
    ), folded (
        radacctid, acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid, nasporttype, acctstarttime,
        acctupdatetime, acctstoptime, acctsessiontime, acctinterval, acctauthentic, connectinfo_start,
        connectinfo_stop, acctinputoctets, acctoutputoctets, calledstationid, callingstationid, acctterminatecause,
        servicetype, framedprotocol, framedipaddress, framedipv6address, framedipv6prefix, framedinterfaceid,
        delegatedipv6prefix, class, existed, last_id
    ) AS (
        SELECT coalesce(r.radacctid, 0), f.acctsessionid, s.acctuniqueid, f.username, f.realm, f.nasipaddress,
               f.nasportid, f.nasporttype, t.starttime,
               coalesce(c.event_time, la.event_time),
               c.event_time,
               CASE WHEN t.by_stop THEN f.sessiontime
                    WHEN c.status = 'Stop' THEN coalesce(c.sessiontime, extract(epoch FROM c.event_time - t.starttime)::bigint)
                    WHEN c.id IS NOT NULL THEN greatest(0, extract(epoch FROM c.event_time - t.starttime)::bigint)
                    WHEN li.id IS NOT NULL THEN li.sessiontime
                    WHEN s.existed THEN r.acctsessiontime ELSE 0 END,
               CASE WHEN li.id IS NULL THEN r.acctinterval  -- NULL for a new row
                    WHEN NOT s.existed AND li.id = s.first_id THEN NULL  -- the Interim that inserted the row
                    ELSE extract(epoch FROM li.event_time - coalesce(li.prev_time, r.acctupdatetime, r.acctstarttime))::bigint
               END,
               f.authentic,
               CASE WHEN ls.id IS NOT NULL THEN ls.connectinfo WHEN s.existed THEN r.connectinfo_start
                    ELSE f.connectinfo END,
               CASE WHEN c.status = 'Stop' AND NOT t.by_stop THEN c.connectinfo ELSE r.connectinfo_stop END,
               CASE WHEN c.status = 'Stop' THEN c.inputoctets WHEN li.id IS NOT NULL THEN li.inputoctets
                    WHEN s.existed THEN r.acctinputoctets ELSE 0 END,
               CASE WHEN c.status = 'Stop' THEN c.outputoctets WHEN li.id IS NOT NULL THEN li.outputoctets
                    WHEN s.existed THEN r.acctoutputoctets ELSE 0 END,
               f.calledstationid, f.callingstationid,
               CASE WHEN c.status = 'Stop' THEN c.terminatecause
                    WHEN c.id IS NOT NULL THEN coalesce(nullif(c.terminatecause, ''), 'NAS-Reboot')
                    ELSE r.acctterminatecause END,
               f.servicetype, f.framedprotocol,
               CASE WHEN c.status = 'Stop' THEN c.framedipaddress WHEN li.id IS NOT NULL THEN li.framedipaddress
                    WHEN s.existed THEN r.framedipaddress ELSE f.framedipaddress END,
               CASE WHEN c.status = 'Stop' THEN c.framedipv6address WHEN li.id IS NOT NULL THEN li.framedipv6address
                    WHEN s.existed THEN r.framedipv6address ELSE f.framedipv6address END,
               CASE WHEN c.status = 'Stop' THEN c.framedipv6prefix WHEN li.id IS NOT NULL THEN li.framedipv6prefix
                    WHEN s.existed THEN r.framedipv6prefix ELSE f.framedipv6prefix END,
               CASE WHEN c.status = 'Stop' THEN c.framedinterfaceid WHEN li.id IS NOT NULL THEN li.framedinterfaceid
                    WHEN s.existed THEN r.framedinterfaceid ELSE f.framedinterfaceid END,
               CASE WHEN c.status = 'Stop' THEN c.delegatedipv6prefix WHEN li.id IS NOT NULL THEN li.delegatedipv6prefix
                    WHEN s.existed THEN r.delegatedipv6prefix ELSE f.delegatedipv6prefix END,
               f.class,
               s.existed, coalesce(s.cut_id, s.last_id)
          FROM sess s
          JOIN acct_batch f ON f.id = s.first_id  -- the packet that inserts the row when it does not exist yet
          CROSS JOIN LATERAL (SELECT (s.prev).*) r  -- the row sess found: one lookup per session, not two
          LEFT JOIN acct_batch c ON c.id = s.cut_id  -- the Stop or Accounting-On/Off that closes it
          LEFT JOIN last a ON a.acctuniqueid = s.acctuniqueid
          LEFT JOIN live la ON la.id = a.any_id
          LEFT JOIN live ls ON ls.id = a.start_id
          LEFT JOIN live li ON li.id = a.interim_id
         CROSS JOIN LATERAL (
            SELECT NOT s.existed AND f.status = 'Stop' AS by_stop,
                   CASE WHEN NOT s.existed AND f.status = 'Stop'
                            THEN f.event_time - coalesce(f.sessiontime, 0) * interval '1 second'
                        WHEN ls.id IS NOT NULL THEN ls.event_time
                        WHEN s.existed THEN r.acctstarttime
                        ELSE f.event_time END AS starttime
         ) t
    ), inserted AS (
        INSERT INTO radacct (
            acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid, nasporttype, acctstarttime,
            acctupdatetime, acctstoptime, acctsessiontime, acctinterval, acctauthentic, connectinfo_start,
            connectinfo_stop, acctinputoctets, acctoutputoctets, calledstationid, callingstationid, acctterminatecause,
            servicetype, framedprotocol, framedipaddress, framedipv6address, framedipv6prefix, framedinterfaceid,
            delegatedipv6prefix, class)
        SELECT acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid, nasporttype, acctstarttime,
               acctupdatetime, acctstoptime, acctsessiontime, acctinterval, acctauthentic, connectinfo_start,
               connectinfo_stop, acctinputoctets, acctoutputoctets, calledstationid, callingstationid, acctterminatecause,
               servicetype, framedprotocol, framedipaddress, framedipv6address, framedipv6prefix, framedinterfaceid,
               delegatedipv6prefix, class
          FROM folded WHERE NOT existed
        ON CONFLICT (acctuniqueid, acctstarttime) DO NOTHING  -- the fold's own lookup above keeps it one row
    ), updated AS (
        UPDATE radacct r
           SET acctstarttime = x.acctstarttime, acctupdatetime = x.acctupdatetime, acctstoptime = x.acctstoptime,
               acctsessiontime = x.acctsessiontime, acctinterval = x.acctinterval,
               connectinfo_start = x.connectinfo_start, connectinfo_stop = x.connectinfo_stop,
               acctinputoctets = x.acctinputoctets, acctoutputoctets = x.acctoutputoctets,
               acctterminatecause = x.acctterminatecause, framedipaddress = x.framedipaddress,
               framedipv6address = x.framedipv6address, framedipv6prefix = x.framedipv6prefix,
               framedinterfaceid = x.framedinterfaceid, delegatedipv6prefix = x.delegatedipv6prefix
          FROM folded x
         WHERE x.existed AND r.acctuniqueid = x.acctuniqueid AND r.radacctid = x.radacctid AND r.acctstoptime IS NULL
    )
    SELECT x.last_id, CASE WHEN x.acctstoptime IS NULL THEN 'Interim-Update' ELSE 'Stop' END, x.acctsessionid,
           x.acctuniqueid, x.username, x.realm, x.nasipaddress, x.nasportid, x.nasporttype, x.acctupdatetime,
           x.acctsessiontime, x.acctauthentic, x.connectinfo_start, x.acctinputoctets, x.acctoutputoctets,
           x.calledstationid, x.callingstationid, x.acctterminatecause, x.servicetype, x.framedprotocol,
           x.framedipaddress, x.framedipv6address, x.framedipv6prefix, x.framedinterfaceid, x.delegatedipv6prefix,
           x.class
      FROM folded x ORDER BY x.last_id;
END
$$;
