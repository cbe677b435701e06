-- Outbox dispatch: wake the scheduler at once when a row becomes due, find a session's pending commands,
-- and list alerts (audit_log rows with action 'alert') per operator.

-- NOTIFY radbill_outbox '<kind>' when a row is inserted or re-armed due now; the dispatcher's own claims and
-- backoffs push next_attempt_at into the future, so they never wake anyone. Identical notifications in one
-- transaction are folded by Postgres, so a bulk insert is one wake-up per kind.
CREATE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('radbill_outbox', NEW.kind);
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify
    AFTER INSERT OR UPDATE OF next_attempt_at ON outbox
    FOR EACH ROW
    WHEN (NEW.done_at IS NULL AND NEW.failed_at IS NULL AND NEW.next_attempt_at <= now())
    EXECUTE FUNCTION notify_outbox();

-- A new disconnect/CoA for a session supersedes the older pending ones for the same session.
CREATE INDEX outbox_pending_session ON outbox ((payload ->> 'acct_unique_id'))
    WHERE done_at IS NULL AND failed_at IS NULL;

CREATE INDEX audit_log_alerts ON audit_log (operator_id, at) WHERE action = 'alert';
