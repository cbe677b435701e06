-- radacct_heard (0018) stamps heard_at on every INSERT and UPDATE: when radbill last heard of a session, which
-- simultaneous-use counts by. Moving rows is not hearing them: radbill_radacct_partition (0043) moves the default
-- partition's rows for a month into the month's new partition with an INSERT, which stamped every moved open
-- session as just heard, so a long-silent session counted against its customer's logins again. An INSERT that
-- brings its heard_at keeps it; the fold's and stock rlm_sql's INSERTs never name the column, so they are stamped
-- as before, and every UPDATE is (a packet for the session).
CREATE OR REPLACE FUNCTION radacct_heard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR NEW.heard_at IS NULL THEN
        NEW.heard_at := now();
    END IF;
    RETURN NEW;
END
$$;
