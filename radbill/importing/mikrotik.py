"""A MikroTik's PPP secrets as an import table (pure): the same mapping → review → import flow as a file."""

from __future__ import annotations

from radbill.importing.files import Table

HEADERS = ["Name", "Username", "Password", "PPP profile", "Connection", "Remote address", "Caller ID"]
# /ppp/secret's `service`: what a customer of each kind is called here (any/pppoe/pptp/l2tp/... -> PPPoE)
SERVICES = {"pppoe": "pppoe", "any": "pppoe"}


def ppp_table(secrets: list[dict]) -> tuple[Table, int]:
    """Enabled secrets -> a Table with mapping-friendly headers; returns (table, how many disabled were left out).

    The comment, when there is one, is usually the customer's name; otherwise the secret's name stands in."""
    rows, lines, disabled = [], [], 0
    for number, secret in enumerate(secrets, start=1):
        if str(secret.get("disabled", "false")).lower() in ("true", "yes"):
            disabled += 1
            continue
        name = str(secret.get("name", "")).strip()
        profile = str(secret.get("profile", "default"))
        rows.append([str(secret.get("comment", "")).strip() or name, name, str(secret.get("password", "")),
                     profile,
                     SERVICES.get(str(secret.get("service", "any")), "other"),
                     str(secret.get("remote-address", "")), str(secret.get("caller-id", ""))])
        lines.append(number)
    return Table(headers=list(HEADERS), rows=rows, lines=lines), disabled
