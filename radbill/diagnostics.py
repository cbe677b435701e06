"""Ops tools: `radbill radtest` sends a real Access-Request; `radbill explain` shows the decision and why."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from radbill import clock
from radbill.config import Config
from radbill.errors import NotFound, RadbillError
from radbill.policy import Decision, PolicyRow, Settings, decide
from radbill.policy.vendors import DEFAULT_TYPE
from radbill.radius.client import RadiusClient, Reply
from radius_module.sessions import (
    OpenSessions,
    Session,
    load_open_sessions,
    octets_before_windows,
    policy_inputs,
    stale_after,
)
from radius_module.snapshot import POLICY_QUERY, row_from_record


def explain(config: Config, username: str, calling_station_id: str | None = None,
            nas_type: str = DEFAULT_TYPE) -> tuple[Decision, PolicyRow | None]:
    """The decision the RADIUS module would make now: the same policy view it loads, and its session view
    (radius_module.sessions: the same query, staleness rule and counting), without a packet."""
    with psycopg.connect(config.radius_url.reveal(), connect_timeout=10) as conn:
        with conn.cursor(row_factory=dict_row) as cur:
            # the query the module's worker refreshes a changed customer with
            record = cur.execute(POLICY_QUERY + " WHERE username = ANY(%s)", ([username],)).fetchone()
        loaded = load_open_sessions(conn, [username])
    return decide_now(record, username, loaded, config.acct_interim_interval, clock.now(), calling_station_id,
                      nas_type)


def decide_now(record, username: str, loaded: dict[str, Session], acct_interim_interval: int, now: datetime,
               calling_station_id: str | None = None, nas_type: str = DEFAULT_TYPE
               ) -> tuple[Decision, PolicyRow | None]:
    """The module's decision from a `radius_policy` record (or None) and the user's open sessions as
    `load_open_sessions` gives them. `radbill explain` and the admin's troubleshooting panel both decide here,
    so they say what the server does."""
    row = row_from_record(record) if record else None
    sessions = OpenSessions(stale_after(acct_interim_interval))
    sessions.replace_all(loaded, octets_before_windows(loaded, [row]))
    row, request = policy_inputs(row, username, calling_station_id, None, sessions, now, nas_type)
    return decide(row, request, now, Settings(acct_interim_interval)), row


def format_explanation(decision: Decision) -> str:
    lines = [f"{'check':<18} {'outcome':<8} observed"]
    lines += [f"{c.name:<18} {c.outcome:<8} {c.observed}" for c in decision.checks]
    verdict = "ACCEPT" if decision.accept else "REJECT"
    lines.append("")
    lines.append(f"decision: {verdict} (reason: {decision.reason})")
    for name, value in decision.reply:
        lines.append(f"  reply  {name} = {value}")
    for name, _ in decision.config:
        lines.append(f"  config {name} = (hidden)")
    return "\n".join(lines)


def local_nas_secret(config: Config, nas_ip: str) -> str:
    with psycopg.connect(config.owner_url.reveal(), connect_timeout=10) as conn:
        found = conn.execute("SELECT secret FROM nas WHERE nasname = %s", (nas_ip,)).fetchone()
    if not found:
        raise NotFound(f"no router with address {nas_ip} in the nas table: add it, or pass --secret")
    return found[0]


def customer_password(config: Config, username: str) -> str:
    with psycopg.connect(config.owner_url.reveal(), connect_timeout=10) as conn:
        found = conn.execute("SELECT radius_password FROM customers WHERE username = %s", (username,)).fetchone()
    if not found:
        raise NotFound(f"no customer {username!r}: pass the password to test an unknown user")
    return found[0]


def radtest(config: Config, username: str, password: str | None, method: str = "pap", secret: str | None = None,
            nas_ip: str = "127.0.0.1", calling_station_id: str | None = None) -> Reply:
    """Send one Access-Request to the running server, as the router at `nas_ip` would."""
    secret = secret or local_nas_secret(config, nas_ip)
    password = password if password is not None else customer_password(config, username)
    client = RadiusClient(config.radius_host, config.radius_auth_port, config.radius_acct_port, secret,
                          timeout=3.0, retries=2)
    extra = {"Calling_Station_Id": calling_station_id} if calling_station_id else {}
    reply = client.send(client.access_request(username, password, method=method, **extra))
    if reply is None:
        raise RadbillError(f"no answer from {config.radius_host}:{config.radius_auth_port} (is `make run` up? "
                           "is the secret right? is the router in the nas table?)")
    return reply


def format_reply(reply: Reply) -> str:
    lines = [reply.code]
    for name, values in sorted(reply.attributes.items()):
        for value in values:
            shown = value.hex() if isinstance(value, bytes) else value
            lines.append(f"  {name} = {shown}")
    lines.append(f"  Message-Authenticator: {'present' if reply.has_message_authenticator else 'MISSING'}")
    return "\n".join(lines)
