-- The session's unique id (acctuniqueid) is computed by Postgres, not by FreeRADIUS's %{md5:...} xlat.
--
-- Why: Debian 12's FreeRADIUS 3.2.1 leaks the OpenSSL 3 digest context of every %{md5:...} expansion (fixed upstream
-- after 3.2.1: "md5 xlat: Destroy MD context, causing leaks with OpenSSL >= 3.0", FreeRADIUS PR #4893). preacct
-- expanded it once per Accounting-Request, so the RADIUS process grew ~165-200 bytes per packet for ever: under
-- bench.accounting_size its resident memory went 163 -> 409 MB in 10 minutes, and heaptrack put 16.7 MB of 100,000
-- packets' leaks under CRYPTO_zalloc called from rlm_expr (bench/README.md, "Accounting at size"). An ISP whose
-- routers send 20 packets a second would have lost ~350 MB a day until a restart.
--
-- The id stays the stock acct_unique fallback: md5 of "User-Name,Acct-Session-Id,NAS IP,NAS-Identifier,NAS-Port-Id,
-- NAS-Port" as the router sent them, so sessions open across the upgrade keep their rows. rlm_sql hands the text
-- over escaped (every byte outside its safe characters as =XX, '=' itself included, multi-byte UTF-8 as is), so the
-- function undoes that first; text without '=' (almost every session) is hashed as it is.

CREATE FUNCTION radbill_sql_unescape(escaped text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(CASE WHEN m[1] IS NOT NULL THEN decode(substr(m[1], 2), 'hex')
                                    ELSE convert_to(m[2], 'UTF8') END, ''::bytea ORDER BY n), ''::bytea)
      FROM regexp_matches(escaped, '(=[0-9A-Fa-f]{2})|([^=]+|=)', 'g') WITH ORDINALITY AS t(m, n)
$$;

CREATE FUNCTION radbill_acct_unique_id(escaped text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN strpos(escaped, '=') = 0 THEN md5(escaped) ELSE md5(radbill_sql_unescape(escaped)) END
$$;
