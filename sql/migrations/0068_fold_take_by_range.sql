-- The fold's take of the journal, linear whatever the journal's statistics say (issue 19 item 5).
--
-- 0062's fold took its batch with `DELETE ... WHERE id IN (SELECT id ... ORDER BY id LIMIT max_rows)`. The journal is
-- empty most of the time, so autovacuum's ANALYZE leaves it estimated at one row; with a backlog of 22,904 rows the
-- planner then ran that IN as a nested-loop semi join that re-read the 5,000 oldest ids for every journal row:
-- 102 million comparisons, 28.7 s for one 5,000-row batch (auto_explain, bench.accounting_size with
-- RADBILL_ACCT_WRITE=spool at 5,000/s over 1M radacct rows). A fold that fell behind took longer the further behind
-- it was and never caught up. It hid while every fold found a few hundred rows; a spooled load or any backlog (a
-- fold stalled behind a reload, a burst) reaches it.
--
-- Now the take is `id <= (the max_rows-th oldest id)`: the subquery runs once (an InitPlan), then one range of the
-- primary key. The same rows: in one snapshot, the visible ids up to the max_rows-th smallest are exactly the
-- max_rows smallest. The rest of the function is 0062's, unchanged (tests/db/test_fold_plan.py).

CREATE OR REPLACE FUNCTION radbill_fold_accounting(max_rows integer DEFAULT 20000, wait boolean DEFAULT false)
RETURNS SETOF radacct_journal
LANGUAGE plpgsql SET jit = off AS $$
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
    WITH taken AS (  -- the max_rows oldest: one range of the primary key, read once (see the header)
        DELETE FROM radacct_journal
         WHERE id <= (SELECT max(q.id) FROM (SELECT id FROM radacct_journal ORDER BY id LIMIT max_rows) q)
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
               -- kept here and dropped at the end, not filtered out: see the header
               r.radacctid IS NOT NULL AND r.acctstoptime IS NOT NULL AS closed,
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
        delegatedipv6prefix, class, existed, closed, last_id
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
               s.existed, s.closed, coalesce(s.cut_id, s.last_id)
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
      FROM folded x WHERE NOT x.closed ORDER BY x.last_id;
END
$$;
