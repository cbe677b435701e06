-- The customer search's page without reading every match twice (issue 19 item 6: p95 < 100 ms at 1,000,000
-- customers). Before, radbill_customer_matches (0021) returned every matching id in scope, and the page query read
-- each of those rows again under the policies, ranked them all and kept 50: "Customer 12" + active read 11,111
-- rows a second time (28 ms of 70 at 1M) to show 50.
--
-- Now the SECURITY DEFINER function finds the matches (same three ways: the text through the trigram index, the
-- exact id, the exact mobile), ranks them by radbill_customer_rank while it has them in hand, and returns them in
-- the page's order (the text through the rarest piece of it: radbill_customer_search_key). The page query walks that list in order and reads a customer row only until its page is full.
-- The order is unchanged: the rank, then newest first.

-- The search's one "what was typed comes first" rule (it was a CASE in Python; the function and the page both
-- need it now): the customer with that id, then that exact username, then usernames that start with it, then the
-- other matches. `typed` is the typed text, lower-cased; `typed_id` NULL unless the text is a plain number.
CREATE FUNCTION radbill_customer_rank(id bigint, username text, typed text, typed_id bigint) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- (the common case, no prefix, first: one lower() for most rows)
    SELECT CASE WHEN id = typed_id THEN 0 WHEN NOT starts_with(lower(username), typed) THEN 3
                WHEN lower(username) = typed THEN 1 ELSE 2 END
$$;

-- Which piece of the typed text to look up in the trigram index, as an ILIKE pattern; NULL for the whole text.
-- The GIN index reads every trigram's list of rows, and a trigram most customers share ("cus" of "Customer", "017"
-- of every mobile) costs a walk through a list of nearly every customer: at 1,000,000 customers "Customer 339564"
-- took 59 ms in the index, its rarer piece "r 339564" 6 ms. So the index is asked for the longest piece whose
-- trigrams each appear in at most a fifth of the index's statistics sample (pg_stats: ANALYZE's most common
-- values and histogram of the indexed text); a row it finds is checked against the whole text before it is shown
-- (radbill_customer_search's `sure`), so what is found does not change. Plain ASCII text only: its lower case is character by character, so a row that
-- contains the whole text contains every piece of it. No statistics yet (a new database): the whole text.
CREATE FUNCTION radbill_customer_search_key(typed text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    sample text[];
    n integer := length(typed);
    run_start integer := 0;
    best_start integer := 0;
    best_len integer := 0;
    seen integer;
BEGIN
    -- (over 100 characters: the whole text; a pasted page must not cost a sample lookup per character)
    IF n < 3 OR n > 100 OR typed !~ '^[\x20-\x7e]*$' THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(lower(v)) INTO sample
      FROM pg_stats s, unnest(coalesce(s.most_common_vals::text::text[], '{}') || s.histogram_bounds::text::text[]) v
     WHERE s.schemaname = 'public' AND s.tablename = 'customers_search' AND s.attname = 'expr';
    IF coalesce(cardinality(sample), 0) < 20 THEN
        RETURN NULL;
    END IF;
    FOR i IN 1 .. n - 1 LOOP  -- i = n - 1 ends the last run
        IF i <= n - 2 THEN
            SELECT count(*) INTO seen FROM unnest(sample) v WHERE strpos(v, lower(substr(typed, i, 3))) > 0;
        END IF;
        IF i <= n - 2 AND seen * 5 <= cardinality(sample) THEN
            IF run_start = 0 THEN run_start := i; END IF;
        ELSIF run_start > 0 THEN
            IF i - run_start > best_len THEN best_start := run_start; best_len := i - run_start; END IF;
            run_start := 0;
        END IF;
    END LOOP;
    IF best_len = 0 OR best_len = n - 2 THEN
        RETURN NULL;
    END IF;
    RETURN '%' || replace(replace(replace(substr(typed, best_start, best_len + 2), '\', '\\'), '%', '\%'), '_', '\_')
           || '%';
END $$;
REVOKE ALL ON FUNCTION radbill_customer_search_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_customer_search_key(text) TO radbill_app;

-- The candidates in the caller's scope (as radbill_customer_matches: run as the owner so the trigram index serves
-- the ILIKE; the caller reads the rows themselves under its own policies), with their rank, best first then newest.
-- `pattern` is the escaped ILIKE pattern of the text `typed`, `typed_lower` the text lower-cased (for the rank),
-- `typed_mobile` the text as an E.164 mobile or NULL. `sure` says the row matches: found by the whole text, the id
-- or the mobile. A row found by a piece of the text (radbill_customer_search_key) is not sure: the page checks it
-- against the whole text as it reads it, so only the rows it reads are checked, not every candidate.
CREATE FUNCTION radbill_customer_search(pattern text, typed text, typed_lower text, typed_id bigint,
                                        typed_mobile text)
RETURNS TABLE (id bigint, rank integer, sure boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp ROWS 100 AS $$
    WITH piece AS MATERIALIZED (SELECT radbill_customer_search_key(typed) AS key),
    candidates AS (
        SELECT c.id, c.operator_id, c.username, (SELECT piece.key IS NULL FROM piece) AS sure
          FROM customers c
         WHERE (c.name || ' ' || c.username || ' ' || coalesce(c.mobile, ''))
               ILIKE coalesce((SELECT piece.key FROM piece), pattern)
        UNION ALL  -- the exact id and mobile, unless the text found them already
        SELECT c.id, c.operator_id, c.username, true FROM customers c
         WHERE (c.id = typed_id OR c.mobile = typed_mobile)
           AND NOT (c.name || ' ' || c.username || ' ' || coalesce(c.mobile, ''))
                   ILIKE coalesce((SELECT piece.key FROM piece), pattern))
    SELECT m.id, radbill_customer_rank(m.id, m.username, typed_lower, typed_id), m.sure
      FROM candidates m JOIN operators o ON o.id = m.operator_id
     WHERE o.path <@ radbill_scope_path()
     ORDER BY 2, 1 DESC
$$;
REVOKE ALL ON FUNCTION radbill_customer_search(text, text, text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION radbill_customer_search(text, text, text, bigint, text) TO radbill_app;
