-- The next free addresses of a pool, N at once: the customer import gives a whole file's pooled rows their addresses
-- in one query (radbill/services/customer_bulk.py) instead of one locked lookup per row. The one-address case asks
-- for 1 (radbill/services/ip_pools.py next_free_addresses), so "which address is next free" is this one function.
--
-- Free: in the pool's range, held by no customer as its static address and used by no open session; lowest first.
-- Takes the same transaction-scoped advisory lock on the pool as before (0036), so a bulk import and a single save
-- allocating from the same pool run one after the other and the second sees the first's committed addresses (the
-- unique customers.static_ip is the net under it). Fewer rows than `wanted` when the pool runs out; none for a pool
-- the caller's scope may not read. SECURITY DEFINER: static addresses are unique system-wide, so the search must
-- see every tenant's customers.
CREATE FUNCTION radbill_next_free_ips(pool_id bigint, wanted integer) RETURNS SETOF inet
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    p ip_pools;
BEGIN
    SELECT * INTO p FROM ip_pools
     WHERE id = pool_id AND operator_id = ANY (radbill_scope_operator_ids('lineage'));
    IF NOT FOUND OR wanted < 1 THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(36036, pool_id::integer);
    -- A new statement after the lock: under READ COMMITTED it sees what the lock's previous holder committed.
    -- The free addresses are the gaps between the used ones (read off the static_ip index and the open sessions'
    -- partial index), as offsets from the pool's start with sentinels just outside it; a gap is expanded only as
    -- far as `wanted` still needs, so the cost follows the addresses in use, not the pool's size (one walk per
    -- address up to the first free one made a save in a pool of 10,000 customers read all 10,000 each time).
    RETURN QUERY
        WITH used AS (
            SELECT c.static_ip - p.start_ip AS o FROM customers c WHERE c.static_ip BETWEEN p.start_ip AND p.end_ip
             UNION
            SELECT a.framedipaddress - p.start_ip FROM radacct a
             WHERE a.acctstoptime IS NULL AND a.framedipaddress BETWEEN p.start_ip AND p.end_ip
             UNION ALL SELECT -1 UNION ALL SELECT p.end_ip - p.start_ip + 1),
        gaps AS (
            SELECT o + 1 AS first, next_o - o - 1 AS free
              FROM (SELECT o, lead(o) OVER (ORDER BY o) AS next_o FROM used) edges
             WHERE next_o - o > 1),
        counted AS (SELECT first, free, sum(free) OVER (ORDER BY first)::bigint - free AS before FROM gaps)
        SELECT p.start_ip + (counted.first + g)
          FROM counted, generate_series(0::bigint, least(counted.free, wanted - counted.before) - 1) AS g
         WHERE counted.before < wanted
         ORDER BY counted.first, g;
END $$;

-- its one-address predecessor: replaced by the function above with wanted = 1
DROP FUNCTION radbill_next_free_ip(bigint);
