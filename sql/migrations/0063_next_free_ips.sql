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
    -- a new statement after the lock: under READ COMMITTED it sees what the lock's previous holder committed
    RETURN QUERY
        SELECT p.start_ip + g
          FROM generate_series(0::bigint, p.end_ip - p.start_ip) AS g
         WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.static_ip = p.start_ip + g)
           AND NOT EXISTS (SELECT 1 FROM radacct a WHERE a.acctstoptime IS NULL AND a.framedipaddress = p.start_ip + g)
         ORDER BY g LIMIT wanted;
END $$;

-- its one-address predecessor: replaced by the function above with wanted = 1
DROP FUNCTION radbill_next_free_ip(bigint);
