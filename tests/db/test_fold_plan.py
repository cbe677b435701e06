"""The fold's plan does not depend on how much of radacct is closed (migration 0062).

On a radacct of mostly closed sessions (any ISP after a few months: 10M rows, 0.1% open) 0043's fold estimated a
batch of thousands of sessions at a handful of rows, joined its CTEs back to each other as nested loops (quadratic
in the batch) and, once the estimates were fixed, spent seconds JIT-compiling. Here the plans of a real fold, as
auto_explain logs them (sent to this client as notices), must scan each of the batch's CTEs once and compile
nothing. The fold's rows themselves are held equal to the packet-by-packet reference in test_accounting_fold_order.
"""

import re

import psycopg
import pytest

from tests.support.db import role_url

CLOSED_ROWS = 30_000
BATCH_SESSIONS = 1_000

PREFILL = """
INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,
                     acctstoptime, acctsessiontime, acctinputoctets, acctoutputoctets)
SELECT 'old' || i, 'old' || i, 'plan-user', '10.8.0.1', now() - interval '2 hours', now() - interval '1 hour',
       now() - interval '1 hour', 3600, i, i
  FROM generate_series(1, %s) i
"""
JOURNAL = """
INSERT INTO radacct_journal (status, acctsessionid, acctuniqueid, username, nasipaddress, event_time, sessiontime,
                             inputoctets, outputoctets)
SELECT s.status, 'new' || i, 'new' || i, 'plan-user', '10.8.0.1', now(), 60, i, i
  FROM generate_series(1, %s) i, (VALUES (1, 'Start'), (2, 'Interim-Update')) s(k, status)
 ORDER BY s.k, i
"""


@pytest.fixture
def superuser(fresh_db_url):
    with psycopg.connect(role_url(fresh_db_url, "postgres"), autocommit=True) as conn:
        yield conn


def fold_plans(conn: psycopg.Connection, rows: int, sessions: int | None = None) -> list[str]:
    plans: list[str] = []
    conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
    conn.execute("LOAD 'auto_explain'")
    for setting, value in (("log_min_duration", "0"), ("log_analyze", "on"), ("log_nested_statements", "on")):
        conn.execute(f"SET auto_explain.{setting} = {value}")
    conn.execute("SET client_min_messages = log")
    folded = conn.execute("SELECT count(*) FROM radbill_fold_accounting(%s)", (rows,)).fetchone()[0]
    assert folded == (rows // 2 if sessions is None else sessions)
    conn.execute("RESET client_min_messages")
    return plans


def test_the_fold_scans_each_cte_once_and_compiles_nothing_on_a_mostly_closed_radacct(superuser):
    superuser.execute(PREFILL, (CLOSED_ROWS,))
    superuser.execute("ANALYZE radacct")
    superuser.execute(JOURNAL, (BATCH_SESSIONS,))
    plans = fold_plans(superuser, 2 * BATCH_SESSIONS)
    main = [p for p in plans if "CTE folded" in p]
    assert len(main) == 1, plans
    rescans = re.findall(r"CTE Scan on (live|last|sess|folded)\w* .*?loops=(\d+)", main[0])
    assert rescans, main[0]
    assert [(name, int(loops)) for name, loops in rescans if int(loops) > 1] == [], main[0]
    assert "JIT:" not in main[0]
    # the sessions went in once each, open, with their interim's counters
    assert superuser.execute("SELECT count(*), count(*) FILTER (WHERE acctstoptime IS NULL AND acctinputoctets > 0)"
                             " FROM radacct WHERE acctuniqueid LIKE 'new%%'").fetchone() == (BATCH_SESSIONS,) * 2


def test_the_take_reads_the_journal_once_when_its_statistics_say_it_is_empty(superuser):
    """Migration 0068: the journal is analysed while empty (it is, most of the time), then a backlog builds up.
    0062's `id IN (SELECT ... LIMIT n)` re-read the n oldest ids for every journal row (a nested-loop semi join:
    28.7 s for one 5,000-row batch of a 22,904-row backlog); the take must read the journal once."""
    # as a busy journal looks to autovacuum: pages that held rows, none live (so estimated at a row or so)
    superuser.execute(JOURNAL, (10_000,))
    superuser.execute("DELETE FROM radacct_journal")
    superuser.execute("ANALYZE radacct_journal")
    assert superuser.execute("SELECT reltuples FROM pg_class WHERE relname = 'radacct_journal'").fetchone()[0] == 0
    superuser.execute(JOURNAL.replace("'new'", "'late'"), (10_000,))  # a backlog of 20,000 rows
    plans = fold_plans(superuser, 5_000, sessions=5_000)  # the first 5,000 rows: 5,000 sessions' Starts
    [take] = [p for p in plans if "Delete on radacct_journal" in p]
    loops = [int(n) for n in re.findall(r"loops=(\d+)", take)]
    assert loops and max(loops) == 1, take
    assert superuser.execute("SELECT count(*) FROM radacct_journal").fetchone()[0] == 15_000
    oldest = superuser.execute("SELECT min(id) FROM radacct_journal").fetchone()[0]
    assert superuser.execute("SELECT count(*) FROM radacct_journal WHERE id < %s", (oldest,)).fetchone()[0] == 0
