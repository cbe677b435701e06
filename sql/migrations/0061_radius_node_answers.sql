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
