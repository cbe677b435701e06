"""Reading PPP secrets and profiles from a MikroTik over the RouterOS API (librouteros for transport and login).

Rows are read as raw API words rather than through librouteros's value casting, which turns a password of
'12345' into an int and 'yes' into True; a secret's password must come back exactly as typed on the router.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from librouteros import async_connect
from librouteros.exceptions import LibRouterosError, TrapError
from librouteros.login import encode_password

from radbill.errors import RadbillError
from radbill.i18n import _

MAX_ROWS = 50_000


class RouterError(RadbillError):
    """The router could not be read; the message says what to check."""


@dataclass
class PppData:
    secrets: list[dict]
    profiles: list[dict]


async def _print(api, command: str) -> list[dict]:
    await api.protocol.writeSentence(command)
    rows, trap = [], None
    while True:
        reply, words = await api.protocol.readSentence()
        fields = {}
        for word in words:
            if word.startswith("="):
                key, _, value = word[1:].partition("=")
                fields[key] = value
        if reply == "!re" and len(rows) < MAX_ROWS:
            rows.append(fields)
        elif reply == "!trap":
            trap = fields.get("message", "error")
        elif reply == "!done":
            break
    if trap:
        raise RouterError(_("The router refused %(command)s: %(problem)s.", command=command, problem=trap))
    return rows


async def login_any_version(api, username: str, password: str) -> None:
    """Log in to RouterOS 6.43 and later (name and password in one step) and to older versions too: those ignore
    the password, answer `/login` with an MD5 challenge (`=ret=`) and expect `=response=` computed from it, so
    a reply carrying `ret` means an old router and the challenge is answered on the same connection."""
    replies = [reply async for reply in api("/login", name=username, password=password)]
    challenge = next((str(r["ret"]) for r in replies if r.get("ret")), None)
    if challenge is None:
        return
    try:
        response = encode_password(challenge, password)
    except (UnicodeError, ValueError):
        raise RouterError(_("This router runs RouterOS before 6.43, whose login takes only plain ASCII passwords; "
                            "give the API user such a password or upgrade RouterOS.")) from None
    [reply async for reply in api("/login", name=username, response=response)]


async def read_ppp(host: str, port: int, username: str, password: str, wait_seconds: float = 10) -> PppData:
    """/ppp/secret/print and /ppp/profile/print from one router; RouterError with a sentence on any failure."""
    where = f"{host}:{port}"
    try:
        api = await async_connect(host=host, port=port, username=username, password=password, timeout=wait_seconds,
                                  encoding="utf-8", login_method=login_any_version)
    except TrapError as exc:
        raise RouterError(_("The router at %(where)s refused the login (%(problem)s); check the API username and "
                            "password on the router's page.", where=where, problem=exc)) from None
    except TimeoutError:
        raise RouterError(_("The router at %(where)s did not answer within %(seconds)s s; check the API address, "
                            "port and that the api service is enabled (/ip service).", where=where,
                            seconds=format(wait_seconds, ".0f"))) from None
    except (OSError, socket.gaierror) as exc:
        raise RouterError(_("Cannot connect to the router's API at %(where)s (%(problem)s); check the address and "
                            "port, and that the api service is enabled.", where=where,
                            problem=exc.strerror or exc)) from None
    except (LibRouterosError, UnicodeError, ValueError, IndexError) as exc:
        raise RouterError(_("The router at %(where)s did not speak the RouterOS API (%(problem)s).", where=where,
                            problem=exc)) from None
    try:
        return PppData(secrets=await _print(api, "/ppp/secret/print"),
                       profiles=await _print(api, "/ppp/profile/print"))
    except TimeoutError:
        raise RouterError(_("The router at %(where)s stopped answering while listing PPP secrets.",
                            where=where)) from None
    except (OSError, LibRouterosError, UnicodeError, ValueError, IndexError) as exc:
        raise RouterError(_("Reading PPP secrets from %(where)s failed (%(problem)s).", where=where,
                            problem=exc)) from None
    finally:
        try:
            await api.close()
        except Exception:  # noqa: BLE001 - closing a broken connection must not hide the real outcome
            pass
