"""sql/schema.sql must equal a dump of a database migrated from zero (`make schema` rewrites it)."""

import difflib

from radbill.db import schema_dump
from tests.support.db import TEMPLATE


def test_committed_schema_matches_migrations(pg_server, request):
    actual = schema_dump.dump(pg_server.url(TEMPLATE))
    if request.config.getoption("--write-schema"):
        schema_dump.SCHEMA_FILE.write_text(actual)
    committed = schema_dump.SCHEMA_FILE.read_text() if schema_dump.SCHEMA_FILE.exists() else ""
    diff = "".join(difflib.unified_diff(committed.splitlines(True), actual.splitlines(True),
                                        "sql/schema.sql (committed)", "migrated from zero", n=2))
    assert not diff, "sql/schema.sql is out of date; run `make schema` and commit it:\n" + diff[:4000]


def test_normalise_drops_version_noise():
    raw = "--\n-- Dumped from database version 15.18\n\\restrict abc\nSET x = 1;\n\n\n\nCREATE TABLE t ();\n\\unrestrict abc\n"
    assert schema_dump.normalise(raw) == schema_dump.HEADER + "\nSET x = 1;\n\nCREATE TABLE t ();\n"
