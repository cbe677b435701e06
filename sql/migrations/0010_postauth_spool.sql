-- The post-auth log arrives as lines written by FreeRADIUS's linelog (radius_module/spool.py): values a user or
-- NAS chose are escaped by rlm_expr's %{escape:...} ("=XX" per unsafe byte). The worker COPYs a whole file into
-- a temporary table and decodes it here, set-based, so the FreeRADIUS process does no per-line Python work.

-- "=XX" sequences back to text. A value whose bytes are not UTF-8 keeps its escaped form (the row is kept).
CREATE FUNCTION radbill_unescape_slow(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    raw bytea;
BEGIN
    SELECT string_agg(CASE WHEN m[1] IS NOT NULL THEN decode(substr(m[1], 2), 'hex')
                           ELSE convert_to(m[2], 'UTF8') END, ''::bytea ORDER BY n)
      INTO raw
      FROM regexp_matches(value, '(=[0-9A-F]{2})|([^=]+|=)', 'g') WITH ORDINALITY AS t(m, n);
    BEGIN
        RETURN convert_from(raw, 'UTF8');
    EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
        RETURN value;
    END;
END
$$;

-- inlined by the planner: a value without '=' (nearly all of them) costs no function call
CREATE FUNCTION radbill_unescape(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN strpos(value, '=') = 0 THEN value ELSE radbill_unescape_slow(value) END
$$;
