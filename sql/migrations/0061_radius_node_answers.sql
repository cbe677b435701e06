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
