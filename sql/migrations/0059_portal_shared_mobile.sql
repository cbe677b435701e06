-- A mobile number shared by several customers (a family with two connections, a shop with a home line): a code
-- sent to it proves the holder may see each of them, but the portal logged in only the newest. The session now
-- remembers the number its code was checked against (NULL for a password login, which proves one account only),
-- and the portal offers the others (radbill/services/portal_auth.py: siblings, switch).
ALTER TABLE portal_sessions ADD COLUMN verified_mobile text;

-- The customers sharing a live session's verified number, for the portal's switcher, which runs in the one-customer
-- scope (0030) and may not read another customer's row itself. Who may log in is decided in Python
-- (portal_auth._may_log_in), so the status comes along.
CREATE FUNCTION radbill_portal_siblings(session_hash bytea)
RETURNS TABLE (id bigint, username text, name text, status text, operator_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT c.id, c.username, c.name, c.status, c.operator_id
      FROM portal_sessions s JOIN customers c ON c.mobile = s.verified_mobile
     WHERE s.id_hash = session_hash AND s.verified_mobile IS NOT NULL AND s.expires_at > now()
     ORDER BY c.created_at DESC, c.id DESC
$$;
REVOKE ALL ON FUNCTION radbill_portal_siblings(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_portal_siblings(bytea) TO radbill_app;
