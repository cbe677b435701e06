"""Reading PPP secrets and profiles from a MikroTik over the RouterOS API (librouteros for transport and login).

Rows are read as raw API words rather than through librouteros's value casting, which turns a password of
'12345' into an int and 'yes' into True; a secret's password must come back exactly as typed on the router.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from librouteros import async_connect
from librouteros.exceptions import LibRouterosError, TrapError

from radbill.errors import RadbillError

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
        raise RouterError(f"The router refused {command}: {trap}.")
    return rows


async def read_ppp(host: str, port: int, username: str, password: str, wait_seconds: float = 10) -> PppData:
    """/ppp/secret/print and /ppp/profile/print from one router; RouterError with a sentence on any failure."""
    where = f"{host}:{port}"
    try:
        api = await async_connect(host=host, port=port, username=username, password=password, timeout=wait_seconds,
                                  encoding="utf-8")
    except TrapError as exc:
        raise RouterError(f"The router at {where} refused the login ({exc}); check the API username and "
                          "password on the router's page.") from None
    except TimeoutError:
        raise RouterError(f"The router at {where} did not answer within {wait_seconds:.0f} s; check the API address, "
                          "port and that the api service is enabled (/ip service).") from None
    except (OSError, socket.gaierror) as exc:
        raise RouterError(f"Cannot connect to the router's API at {where} ({exc.strerror or exc}); check the "
                          "address and port, and that the api service is enabled.") from None
    except (LibRouterosError, UnicodeError, ValueError, IndexError) as exc:
        raise RouterError(f"The router at {where} did not speak the RouterOS API ({exc}).") from None
    try:
        return PppData(secrets=await _print(api, "/ppp/secret/print"),
                       profiles=await _print(api, "/ppp/profile/print"))
    except TimeoutError:
        raise RouterError(f"The router at {where} stopped answering while listing PPP secrets.") from None
    except (OSError, LibRouterosError, UnicodeError, ValueError, IndexError) as exc:
        raise RouterError(f"Reading PPP secrets from {where} failed ({exc}).") from None
    finally:
        try:
            await api.close()
        except Exception:  # noqa: BLE001 - closing a broken connection must not hide the real outcome
            pass
