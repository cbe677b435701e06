"""A small RADIUS client over pyrad: Access-Request (PAP, CHAP, MS-CHAPv2) and Accounting-Request."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from pyrad import packet
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary

DICTIONARY_FILE = Path(__file__).with_name("dictionary")
_dictionary: Dictionary | None = None

CODE_NAMES = {packet.AccessAccept: "Access-Accept", packet.AccessReject: "Access-Reject",
              packet.AccountingResponse: "Accounting-Response", packet.AccessChallenge: "Access-Challenge"}


def dictionary() -> Dictionary:
    global _dictionary
    if _dictionary is None:
        _dictionary = Dictionary(str(DICTIONARY_FILE))
    return _dictionary


@dataclass
class Reply:
    code: str
    attributes: dict[str, list] = field(default_factory=dict)
    has_message_authenticator: bool = False

    @property
    def accepted(self) -> bool:
        return self.code == "Access-Accept"

    def first(self, name: str):
        values = self.attributes.get(name)
        return values[0] if values else None


class RadiusClient:
    """One NAS talking to one server; `send` returns None when the server does not answer."""

    def __init__(self, host: str, auth_port: int, acct_port: int, secret: str, timeout: float = 2.0,
                 retries: int = 1):
        # enforce_ma: a reply without a valid Message-Authenticator is dropped, as a Blast-RADIUS-safe NAS does
        self.client = Client(server=host, authport=auth_port, acctport=acct_port, secret=secret.encode(),
                             dict=dictionary(), timeout=timeout, retries=retries, enforce_ma=True)

    def access_request(self, username: str, password: str | None = None, method: str = "pap",
                       message_authenticator: bool = True, **attributes) -> packet.AuthPacket:
        # pyrad adds the Message-Authenticator when the packet is encoded (Blast-RADIUS); tests turn it off
        req = self.client.CreateAuthPacket(code=packet.AccessRequest, message_authenticator=message_authenticator)
        req["User-Name"] = username
        req["NAS-IP-Address"] = attributes.pop("NAS_IP_Address", "127.0.0.1")
        for key, value in attributes.items():
            req[key.replace("_", "-")] = value
        if password is not None:
            if method == "pap":
                req["User-Password"] = req.PwCrypt(password)
            elif method == "chap":
                challenge, ident = os.urandom(16), os.urandom(1)
                req["CHAP-Challenge"] = challenge
                req["CHAP-Password"] = ident + hashlib.md5(ident + password.encode() + challenge).digest()
            elif method == "mschap":
                from radbill.radius import mschap

                challenge, response = mschap.build(username, password)
                req["MS-CHAP-Challenge"] = challenge
                req["MS-CHAP2-Response"] = response
            else:
                raise ValueError(f"unknown authentication method {method!r} (pap, chap, mschap)")
        return req

    def accounting_request(self, **attributes) -> packet.AcctPacket:
        req = self.client.CreateAcctPacket()
        req["NAS-IP-Address"] = attributes.pop("NAS_IP_Address", "127.0.0.1")
        for key, value in attributes.items():
            req[key.replace("_", "-")] = value
        return req

    def status_server(self) -> bool:
        """True when the server answers a Status-Server (RFC 5997) request."""
        req = self.client.CreateAuthPacket(code=packet.StatusServer)
        return self.send(req) is not None

    def statistics(self) -> dict[str, int] | None:
        """FreeRADIUS's own counters (a status listener answers them: raddb/sites/radbill_status), by attribute
        name without the 'FreeRADIUS-' prefix; None when the server does not answer."""
        req = self.client.CreateAuthPacket(code=packet.StatusServer, message_authenticator=True)
        req["FreeRADIUS-Statistics-Type"] = 0x03  # authentication and accounting
        reply = self.send(req)
        if reply is None:
            return None
        return {name.removeprefix("FreeRADIUS-"): int(values[0]) if not hasattr(values[0], "timestamp")
                else int(values[0].timestamp()) for name, values in reply.attributes.items()
                if name.startswith("FreeRADIUS-") and values}

    def send(self, req) -> Reply | None:
        try:
            reply = self.client.SendPacket(req)
        except Timeout:
            return None
        attributes = {}
        for key in reply.keys():
            name = key if isinstance(key, str) else str(key)
            if name == "Message-Authenticator":
                continue
            attributes[name] = list(reply[key])
        return Reply(CODE_NAMES.get(reply.code, str(reply.code)), attributes,
                     reply.message_authenticator is not None and bool(reply.message_authenticator))
