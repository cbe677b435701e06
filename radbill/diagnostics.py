"""Ops tools: `radbill radtest` sends a real Access-Request; `radbill explain` shows the decision and why."""

from __future__ import annotations

from datetime import timedelta

import psycopg
from psycopg.rows import dict_row

from radbill import clock
from radbill.config import Config
from radbill.errors import NotFound, RadbillError
from radbill.policy import Decision, PolicyRow, Request, Settings, decide
from radbill.radius.client import RadiusClient, Reply

OPEN_SESSIONS = """
    SELECT count(*) FROM radacct
     WHERE username = %s AND acctstoptime IS NULL
       AND coalesce(acctupdatetime, acctstarttime) > now() - %s::interval
"""
OPEN_OCTETS = """
    SELECT coalesce(sum(coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0)), 0)
      FROM radacct WHERE username = %s AND acctstoptime IS NULL
"""


def explain(config: Config, username: str, calling_station_id: str | None = None) -> tuple[Decision, PolicyRow | None]:
    """The decision the RADIUS module would make now, from the same view it loads (without a packet)."""
    stale = timedelta(seconds=3 * config.acct_interim_interval + 60)
    with psycopg.connect(config.owner_url.reveal(), connect_timeout=10) as conn:
        with conn.cursor(row_factory=dict_row) as cur:
            record = cur.execute("SELECT * FROM radius_policy WHERE username = %s", (username,)).fetchone()
        row = PolicyRow.from_view(record) if record else None
        open_sessions = conn.execute(OPEN_SESSIONS, (username, stale)).fetchone()[0]
        if row is not None and row.data_cap_bytes is not None:
            from dataclasses import replace

            row = replace(row, usage_bytes=row.usage_bytes + conn.execute(OPEN_OCTETS, (username,)).fetchone()[0])
    request = Request(username=username, calling_station_id=calling_station_id, open_sessions=open_sessions)
    return decide(row, request, clock.now(), Settings(config.acct_interim_interval)), row


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
