-- When radbill last heard of a session, for the open-sessions view that simultaneous-use counts (issue 12 #6).
-- The module's tracker stamps a session with the time the worker folded its packet, never with the packet's own
-- Event-Timestamp: a NAS with a wrong clock (or replaying buffered accounting) would otherwise have every session
-- look stale at once and never count. radacct's acctstarttime/acctupdatetime are the NAS's times (the stock
-- queries' meaning), so the same fact is kept here, set by the database in the fold's transaction, and the view
-- the module reloads and `radbill explain` reads (radius_module/sessions.py) is the one the tracker keeps.
-- A trigger rather than a column in the fold's statements: every writer of radacct gets it, whatever the fold does.

ALTER TABLE radacct ADD COLUMN heard_at timestamptz;

CREATE FUNCTION radacct_heard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.heard_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER radacct_heard BEFORE INSERT OR UPDATE ON radacct FOR EACH ROW EXECUTE FUNCTION radacct_heard();
