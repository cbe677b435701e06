"""The `radbill` console script: run, migrate, psql, dump-schema, config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from radbill import localenv
from radbill.config import Config
from radbill.errors import RadbillError

log = logging.getLogger("radbill")


def cmd_migrate(args: argparse.Namespace) -> int:
    from radbill.db.migrate import migrate_url

    with localenv.database_available():
        config = Config.from_env()
        applied = asyncio.run(migrate_url(config.database_url.reveal()))
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "database is up to date")
    return 0


def cmd_psql(args: argparse.Namespace) -> int:
    from radbill.db.cluster import pg_tool

    with localenv.database_available():
        config = Config.from_env()
        psql = pg_tool("psql") if os.path.exists(pg_tool("psql")) else "psql"
        return os.spawnvp(os.P_WAIT, psql, [psql, config.database_url.reveal(), *args.psql_args])


def cmd_dump_schema(args: argparse.Namespace) -> int:
    from radbill.db import schema_dump

    with localenv.database_available():
        config = Config.from_env()
        text = schema_dump.dump(config.database_url.reveal())
    if args.stdout:
        sys.stdout.write(text)
    else:
        schema_dump.SCHEMA_FILE.write_text(text)
        print(f"wrote {schema_dump.SCHEMA_FILE}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    localenv.apply_local_env()
    for key, value in Config.from_env().describe().items():
        print(f"{key} = {value}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from radbill.runner import run_all

    return run_all()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="radbill", description="ISP billing with a live RADIUS policy engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the whole system in the foreground (Ctrl-C stops it)").set_defaults(func=cmd_run)
    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(func=cmd_migrate)
    psql = sub.add_parser("psql", help="open psql on the configured database")
    psql.add_argument("psql_args", nargs=argparse.REMAINDER)
    psql.set_defaults(func=cmd_psql)
    dump = sub.add_parser("dump-schema", help="rewrite sql/schema.sql from the migrated database")
    dump.add_argument("--stdout", action="store_true", help="print instead of writing the file")
    dump.set_defaults(func=cmd_dump_schema)
    sub.add_parser("config", help="print the effective configuration (secrets hidden)").set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        return args.func(args)
    except RadbillError as exc:
        print(f"radbill: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
