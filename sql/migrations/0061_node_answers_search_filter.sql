-- Whether each RADIUS node's FreeRADIUS answers, as its supervisor sees it (`radbill radius`, `radbill run`).
--
-- seen_at is the heartbeat of the module's worker thread inside FreeRADIUS: it keeps beating while every request
-- thread is stuck or the listeners are gone, so a node can look alive and answer nobody. The process that
-- supervises FreeRADIUS asks it a Status-Server every few seconds (radbill/radius_probe.py) and writes here:
-- probed_at (the supervisor is alive and asking), answered_at and the round trip of the last answer.
-- NULL probed_at: nobody asks this node (an older supervisor); /healthz then judges it by seen_at alone.
ALTER TABLE radius_nodes
    ADD COLUMN probed_at     timestamptz,
    ADD COLUMN answered_at   timestamptz,
    ADD COLUMN round_trip_ms real CHECK (round_trip_ms >= 0);

-- The scheduler alerts the group admin about a node that stopped or does not answer (radbill/services/alerts.py).
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN (
    'sms_no_gateway', 'sms_no_balance', 'sms_failed', 'sms_refused', 'router_unreachable', 'router_refused',
    'delivery_failed', 'backup_stale', 'webhook_failing', 'radius_node_down'));

-- The customers a text finds, as one array: what lists ordered by something else than the search's rank (tickets,
-- bills, payments, a manual bill run) filter by, with `c.id = ANY (...)` so the ids drive an index scan. The
-- candidates are radbill_customer_search's (0053, the customer list's one search: the same scope, the rarest piece
-- of the text through the trigram index), and a candidate found by a piece of the text is checked against the
-- whole text here, as the list's page does (ScopedWhere.customer_search). Equal to the list's search:
-- tests/services/test_search_equal.py. A semi-join on radbill_customer_search instead read the whole scope (100 ms
-- for the group admin at 100,000 customers): bench/customer_filter.py.
CREATE FUNCTION radbill_customer_found(pattern text, typed text, typed_lower text, typed_id bigint,
                                       typed_mobile text)
RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(array_agg(m.id), '{}')
      FROM radbill_customer_search(pattern, typed, typed_lower, typed_id, typed_mobile) m
     WHERE m.sure OR EXISTS (SELECT 1 FROM customers c WHERE c.id = m.id
                               AND (c.name || ' ' || c.username || ' ' || coalesce(c.mobile, '')) ILIKE pattern)
$$;
REVOKE ALL ON FUNCTION radbill_customer_found(text, text, text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_customer_found(text, text, text, bigint, text) TO radbill_app;
