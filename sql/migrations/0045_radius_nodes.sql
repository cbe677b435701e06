-- Several RADIUS nodes on one database (`radbill radius`, README "Two RADIUS servers").
--
-- The accounting fold already runs once per row whichever node calls it (radbill_fold_accounting takes an
-- advisory lock). What it returns feeds the open-session tracker of the node that folded, and only that one: a
-- second node would never count a session the first folded (simultaneous-use, data caps). So a fold that moved
-- rows while another node is alive also writes them here, in the fold's own transaction (under the same lock:
-- feed ids are in commit order), and every other node applies them to its tracker.

-- One row per running module (instance: random per process, so two nodes given the same name still see each
-- other); seen_at is the worker's heartbeat. A fold writes the feed only while another instance is alive.
CREATE TABLE radius_nodes (
    instance   text PRIMARY KEY CHECK (length(instance) BETWEEN 1 AND 64),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);

-- What one fold changed, journal-shaped like the fold's result (radius_module/worker.py FOLD_QUERY rows), kept
-- a couple of minutes: a node away longer reloads everything from radacct instead.
CREATE TABLE radacct_feed (
    id       bigserial PRIMARY KEY,
    instance text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    changes  jsonb NOT NULL
);
CREATE INDEX radacct_feed_at ON radacct_feed (at);

GRANT SELECT, INSERT, UPDATE, DELETE ON radius_nodes, radacct_feed TO radbill_radius;
GRANT USAGE ON SEQUENCE radacct_feed_id_seq TO radbill_radius;
GRANT SELECT ON radius_nodes TO radbill_app;  -- ops pages may list the nodes
