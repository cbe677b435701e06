-- "Why can't this customer connect?" in the admin: the admin role may not read radius_policy (0017 revokes it:
-- the view spans every tenant), so this returns the view's row for ONE customer, and only one the caller's scope
-- can see (the same test as the customers tenant_read policy). The admin then decides with the RADIUS module's
-- own decide() on the same row, so the page and the server cannot disagree.
CREATE FUNCTION radbill_customer_policy(p_customer_id bigint) RETURNS SETOF radius_policy
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT p.* FROM radius_policy p
     WHERE p.username = (SELECT c.username FROM customers c
                          WHERE c.id = p_customer_id
                            AND c.operator_id IN (SELECT radbill_scope_operators('subtree')))
$$;
REVOKE ALL ON FUNCTION radbill_customer_policy(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_customer_policy(bigint) TO radbill_app;
