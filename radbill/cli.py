"""The `radbill` console script: run, migrate, psql, dump-schema, config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from radbill import i18n, localenv
from radbill.config import Config
from radbill.errors import RadbillError
from radbill.policy import vendors

log = logging.getLogger("radbill")


def cmd_migrate(args: argparse.Namespace) -> int:
    from radbill.db.migrate import migrate_url

    with localenv.database_available():
        config = Config.from_env()
        applied = asyncio.run(migrate_url(config.owner_url.reveal()))
        sealed = asyncio.run(_as_owner(config, "seal_plain_values"))
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "database is up to date")
    if sealed:
        print(f"sealed {sealed} stored secret(s) that were plain text")
    return 0


async def _as_owner(config: Config, action: str) -> int:
    """Run radbill.services.sealed.<action> on a connection of the schema owner (every tenant's rows)."""
    import asyncpg

    from radbill.services import sealed

    conn = await asyncpg.connect(config.owner_url.reveal())
    try:
        return await getattr(sealed, action)(conn)
    finally:
        await conn.close()


def cmd_seal_secrets(args: argparse.Namespace) -> int:
    with localenv.database_available():
        count = asyncio.run(_as_owner(Config.from_env(), "seal_plain_values"))
    print(f"sealed {count} stored secret(s) that were plain text" if count else "no plain secret left to seal")
    return 0


def cmd_rotate_secrets(args: argparse.Namespace) -> int:
    """Re-seal every stored secret under the first key of RADBILL_DATA_KEYS (README: 'Secrets at rest')."""
    with localenv.database_available():
        config = Config.from_env()
        plain = asyncio.run(_as_owner(config, "seal_plain_values"))
        count = asyncio.run(_as_owner(config, "rotate"))
    print(f"re-sealed {count} secret(s) under the current key" + (f"; sealed {plain} plain one(s)" if plain else ""))
    return 0


def cmd_db_roles(args: argparse.Namespace) -> int:
    """Create radbill_app and radbill_radius (LOGIN, generated passwords) for a database radbill does not host."""
    import secrets

    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from radbill.db.cluster import APP, RADIUS, create_login_roles
    from radbill.db.migrate import migrate_url

    owner_url = args.owner_url or os.environ.get("MIGRATE_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not owner_url:
        raise RadbillError("give the schema owner's URL (--owner-url or MIGRATE_DATABASE_URL); it needs CREATEROLE")
    passwords = {APP: secrets.token_urlsafe(24), RADIUS: secrets.token_urlsafe(24)}
    try:
        with psycopg.connect(owner_url, autocommit=True, connect_timeout=10) as conn:
            create_login_roles(conn, passwords)
    except psycopg.errors.InsufficientPrivilege:
        raise RadbillError("the owner may not create roles: run `ALTER ROLE <owner> CREATEROLE` as a superuser, "
                           "or create radbill_app and radbill_radius yourself (README.md, 'Database roles')") from None
    asyncio.run(migrate_url(owner_url))  # the grants and policies come from the migrations
    print("Set these (shown once):")
    print(f"MIGRATE_DATABASE_URL={owner_url}")
    for key, role in (("DATABASE_URL", APP), ("RADIUS_DATABASE_URL", RADIUS)):
        params = {**conninfo_to_dict(owner_url), "user": role, "password": passwords[role]}
        print(f"{key}={make_conninfo(**params)}")
    return 0


def cmd_psql(args: argparse.Namespace) -> int:
    from radbill.db.cluster import pg_tool

    with localenv.database_available():
        config = Config.from_env()
        psql = pg_tool("psql") if os.path.exists(pg_tool("psql")) else "psql"
        return os.spawnvp(os.P_WAIT, psql, [psql, config.owner_url.reveal(), *args.psql_args])


def cmd_dump_schema(args: argparse.Namespace) -> int:
    from radbill.db import schema_dump

    with localenv.database_available():
        config = Config.from_env()
        text = schema_dump.dump(config.owner_url.reveal())
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


def cmd_demo(args: argparse.Namespace) -> int:
    import json

    import asyncpg

    from radbill.services.demo import seed_demo

    async def seed(url: str) -> dict:
        conn = await asyncpg.connect(url)
        try:
            return await seed_demo(conn, bkash_url=config.fake_bkash_url, portal_url=config.portal_base_url,
                                   sslcommerz_url=config.fake_sslcommerz_url)
        finally:
            await conn.close()

    with localenv.database_available():
        config = Config.from_env()
        from radbill.db.migrate import migrate_url

        asyncio.run(migrate_url(config.owner_url.reveal()))
        demo = asyncio.run(seed(config.owner_url.reveal()))
    demo["radius"] = {"host": config.radius_host, "auth_port": config.radius_auth_port,
                      "acct_port": config.radius_acct_port}
    print(json.dumps(demo, indent=2) if args.json else format_demo(demo))
    return 0


def format_demo(demo: dict) -> str:
    lines = ["Demo ISP created. These credentials are shown once; nothing has a default password.", "",
             "Admin logins:"]
    lines += [f"  {x['role']:<13} {x['username']:<16} {x['password']}" for x in demo["logins"]]
    lines += ["", "RADIUS customers (PPPoE usernames):"]
    lines += [f"  {x['state']:<10} {x['username']:<16} {x['password']}" for x in demo["customers"]]
    radius = demo["radius"]
    lines += ["", f"Router (NAS) {demo['nas']['ip']}  secret {demo['nas']['secret']}",
              f"RADIUS {radius['host']} auth {radius['auth_port']} acct {radius['acct_port']}",
              "Try: .venv/bin/radbill radtest demo-active   |   .venv/bin/radbill explain demo-expired"]
    if demo.get("portal"):
        lines += ["", f"Customer portal: {demo['portal']['url']} (log in with a customer's username and password"
                      " above, e.g. demo-suspended, to see the bill and pay it)"]
    if demo.get("payments"):
        bkash = demo["payments"]["bkash"]
        lines += ["", f"Pay the suspended customer's bill online: {demo['payments']['pay_link']}",
                  f"  (the local test bKash at {bkash['url']}, merchant {bkash['username']} app key {bkash['app_key']})"]
        if "sslcommerz" in demo["payments"]:
            lines += [f"  (the local test SSLCommerz at {demo['payments']['sslcommerz']['url']}: cards, Nagad, Rocket)"]
    if demo.get("whatsapp"):
        lines += ["", f"WhatsApp: the ISP sends through the local test Cloud API at {demo['whatsapp']['url']}; switch an"
                      " event to WhatsApp under SMS and WhatsApp → WhatsApp, then see it delivered in Message history"]
    return "\n".join(lines)


def cmd_radtest(args: argparse.Namespace) -> int:
    from radbill import diagnostics

    localenv.apply_local_env()
    config = Config.from_env()
    method = "chap" if args.chap else "mschap" if args.mschap else "pap"
    reply = diagnostics.radtest(config, args.username, args.password, method=method, secret=args.secret,
                                nas_ip=args.nas_ip, calling_station_id=args.calling_station_id)
    print(diagnostics.format_reply(reply))
    return 0 if reply.accepted else 1


def cmd_explain(args: argparse.Namespace) -> int:
    from radbill import diagnostics

    with localenv.database_available():
        config = Config.from_env()
        decision, _ = diagnostics.explain(config, args.username, args.calling_station_id, args.router_type)
    print(diagnostics.format_explanation(decision))
    return 0 if decision.accept else 1


def _passphrase(args: argparse.Namespace) -> str | None:
    from radbill.backup.archive import BackupError

    if not args.passphrase_file:
        return None
    try:
        text = open(args.passphrase_file, encoding="utf-8").read().strip("\r\n")
    except OSError as exc:
        raise BackupError(f"cannot read the passphrase file {args.passphrase_file}: {exc.strerror}") from None
    if not text:
        raise BackupError(f"the passphrase file {args.passphrase_file} is empty")
    return text


def cmd_backup(args: argparse.Namespace) -> int:
    from radbill.backup.dump import take_backup
    from radbill.services.backups import backup_dir

    passphrase = _passphrase(args)
    with localenv.database_available():
        config = Config.from_env()
        result = take_backup(config.owner_url.reveal(), Path(args.out) if args.out else backup_dir(), passphrase)
    print(f"backup written: {result.path} ({result.size} bytes, migration {result.migration})")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from radbill.backup.dump import restore_embedded, restore_into

    passphrase = _passphrase(args)
    if args.database_url:
        manifest = restore_into(Path(args.archive), args.database_url, passphrase)
        print(f"restored the backup of {manifest.get('created_at')} into the given database; its secrets are in "
              f"{localenv.ENV_FILE}. Set DATABASE_URL and friends for that database, then `radbill migrate`.")
    else:
        manifest = restore_embedded(Path(args.archive), passphrase)
        print(f"restored the backup of {manifest.get('created_at')} into {localenv.VAR_DIR}; start it with "
              "`make run` (it migrates to this version first).")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """The /healthz checks on a terminal; exit 0 when all pass, 1 otherwise. Starts nothing (not even var/pg)."""
    import json

    from radbill import health
    from radbill.services.ops_report import checks_from_url

    localenv.apply_local_env()
    config = Config.from_env()
    checks = asyncio.run(checks_from_url(config.database_url.reveal(), health.HealthSettings.from_env()))
    print(json.dumps(health.as_json(checks), indent=2) if args.json else health.as_text(checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_run(args: argparse.Namespace) -> int:
    from radbill.runner import run_all

    return run_all()


def cmd_radius(args: argparse.Namespace) -> int:
    from radbill.radius_node import options_from, run_node

    return run_node(options_from(args))


def cmd_install_units(args: argparse.Namespace) -> int:
    import shlex

    from radbill.units import USER, create_user, install_units, user_commands, user_exists

    for path, text in install_units(Path(args.prefix), args.role, dry_run=args.dry_run):
        if args.dry_run:
            print(f"# {path}\n{text}")
        else:
            print(f"wrote {path}")
    if args.create_user and not args.dry_run:
        made = create_user()
        print(f"created the system user {USER}" if made else f"the system user {USER} exists already")
    elif not user_exists():
        commands = "\n".join(f"  {shlex.join(c)}" for c in user_commands())
        print(f"the units run as the system user {USER}, which does not exist yet: create it as root with\n"
              f"{commands}\n(or run this again with --create-user)")
    if not args.dry_run:
        print("then: systemctl daemon-reload && systemctl enable --now <unit> (README: 'Two RADIUS servers')")
    return 0


def _add_node_commands(sub) -> None:
    node = sub.add_parser("radius", help="run one RADIUS node (FreeRADIUS + radbill's module) against a remote "
                                         "database; no admin, portal or scheduler")
    node.add_argument("--database-url", help="the RADIUS role's URL (default: RADIUS_DATABASE_URL)")
    node.add_argument("--listen", help="address to answer on (default: RADBILL_RADIUS_HOST or 0.0.0.0)")
    node.add_argument("--auth-port", type=int, help="default: RADBILL_RADIUS_AUTH_PORT or 1812")
    node.add_argument("--acct-port", type=int, help="default: RADBILL_RADIUS_ACCT_PORT or 1813")
    node.add_argument("--node-name", help="this node's name among the others (default: the host name)")
    node.add_argument("--var", help="this node's own directory: clients file, spool, logs (default: RADBILL_VAR_DIR)")
    node.set_defaults(func=cmd_radius)
    units = sub.add_parser("install-units", help="write systemd unit files for production hosts")
    units.add_argument("--prefix", default="/etc/systemd/system", help="directory for the unit files")
    units.add_argument("--role", choices=("all", "radius", "web"), default="all",
                       help="radius: a RADIUS node only; web: admin, portal and scheduler")
    units.add_argument("--dry-run", action="store_true", help="print the units instead of writing them")
    units.add_argument("--create-user", action="store_true",
                       help="also create the system user the units run as, if missing (needs root)")
    units.set_defaults(func=cmd_install_units)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="radbill", description="ISP billing with a live RADIUS policy engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the whole system in the foreground (Ctrl-C stops it)").set_defaults(func=cmd_run)
    sub.add_parser("migrate", help="apply pending database migrations (and seal plain stored secrets)"
                   ).set_defaults(func=cmd_migrate)
    sub.add_parser("seal-secrets", help="seal stored secrets that are still plain text"
                   ).set_defaults(func=cmd_seal_secrets)
    sub.add_parser("rotate-secrets", help="re-seal every stored secret under the first key of RADBILL_DATA_KEYS"
                   ).set_defaults(func=cmd_rotate_secrets)
    roles = sub.add_parser("db-roles", help="create the app and RADIUS database roles (external PostgreSQL)")
    roles.add_argument("--owner-url", help="the schema owner's URL (default: MIGRATE_DATABASE_URL)")
    roles.set_defaults(func=cmd_db_roles)
    psql = sub.add_parser("psql", help="open psql on the configured database")
    psql.add_argument("psql_args", nargs=argparse.REMAINDER)
    psql.set_defaults(func=cmd_psql)
    dump = sub.add_parser("dump-schema", help="rewrite sql/schema.sql from the migrated database")
    dump.add_argument("--stdout", action="store_true", help="print instead of writing the file")
    dump.set_defaults(func=cmd_dump_schema)
    sub.add_parser("config", help="print the effective configuration (secrets hidden)").set_defaults(func=cmd_config)
    demo = sub.add_parser("demo", help="seed an empty database with a demo ISP and print its credentials")
    demo.add_argument("--json", action="store_true", help="print the credentials as JSON")
    demo.set_defaults(func=cmd_demo)
    radtest = sub.add_parser("radtest", help="send a real Access-Request to the running server")
    radtest.add_argument("username")
    radtest.add_argument("password", nargs="?", help="default: the customer's own RADIUS password")
    how = radtest.add_mutually_exclusive_group()
    how.add_argument("--chap", action="store_true", help="CHAP instead of PAP")
    how.add_argument("--mschap", action="store_true", help="MS-CHAPv2 instead of PAP")
    radtest.add_argument("--secret", help="the router's shared secret (default: from the nas table)")
    radtest.add_argument("--nas-ip", default="127.0.0.1", help="NAS-IP-Address to send and look up")
    radtest.add_argument("--calling-station-id", help="the client's MAC address, for MAC-bound customers")
    radtest.set_defaults(func=cmd_radtest)
    explain = sub.add_parser("explain", help="show the decision the RADIUS module would make now, and why")
    explain.add_argument("username")
    explain.add_argument("--calling-station-id", help="the client's MAC address, for MAC-bound customers")
    explain.add_argument("--router-type", choices=vendors.TYPES, default=vendors.DEFAULT_TYPE,
                         help="answer as to a router of this type (its rate, pool and profile attributes)")
    explain.set_defaults(func=cmd_explain)
    backup = sub.add_parser("backup", help="write one archive of the database and var/radbill.env (mode 0600)")
    backup.add_argument("--out", help="directory for the archive (default: RADBILL_BACKUP_DIR or var/backups)")
    backup.add_argument("--passphrase-file", help="encrypt the archive with the passphrase in this file")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="restore an archive onto an empty var/ or an empty database")
    restore.add_argument("archive")
    restore.add_argument("--database-url", help="an EMPTY database to restore into (its owner's URL)")
    restore.add_argument("--passphrase-file", help="the passphrase the archive was encrypted with")
    restore.set_defaults(func=cmd_restore)
    status = sub.add_parser("status", help="check the running system (as /healthz does); exit 1 if anything is wrong")
    status.add_argument("--json", action="store_true", help="print the /healthz JSON")
    status.set_defaults(func=cmd_status)
    _add_node_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["psql"]:  # hand everything after `psql` to psql itself (argparse would eat its options)
        args = argparse.Namespace(command="psql", func=cmd_psql, psql_args=argv[1:], verbose=False)
    else:
        args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    i18n.load_catalogs()  # messages the CLI prints go through radbill.i18n like the admin's
    try:
        return args.func(args)
    except RadbillError as exc:
        print(f"radbill: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
