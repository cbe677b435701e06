"""A small local NAS for tests: it logs customers in and keeps sessions with real Access- and
Accounting-Requests to the FreeRADIUS under test, and answers RFC 5176 Disconnect/CoA-Requests on a loopback
UDP port like a Blast-RADIUS-safe router (a request without a valid Message-Authenticator gets no answer).

Give each simulator its own 127.0.0.x address: FreeRADIUS knows a NAS by the source address, radbill's
dispatcher finds it by radacct's NAS-IP-Address; both are that address.
"""

from __future__ import annotations

import itertools
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyrad import packet

from radbill.policy.vendors import all_rate_attributes, vendor
from radbill.radius.client import RadiusClient, Reply, dictionary

ERROR_CAUSE_UNSUPPORTED_ATTRIBUTE = 401
ERROR_CAUSE_MISSING_ATTRIBUTE = 402
ERROR_CAUSE_UNSUPPORTED_SERVICE = 405
ERROR_CAUSE_SESSION_NOT_FOUND = 503
ERROR_CAUSE_RESOURCES_UNAVAILABLE = 506
SESSION_KEYS = ("User-Name", "Acct-Session-Id", "Framed-IP-Address")
_ids = itertools.count(1)


@dataclass
class SimSession:
    username: str
    acct_session_id: str
    framed_ip: str
    attributes: dict[str, str] = field(default_factory=dict)  # what CoA-Requests changed
    open: bool = True


@dataclass
class Received:
    code: int
    attributes: dict[str, str]
    answered: int | None  # the reply code, None when the simulator stayed silent


class NasSimulator:
    """`mode`: 'ack' (default), 'nak', 'silent', or 'ack-keep' (ACKs a Disconnect but keeps the session, as some
    routers do); `received` lists every valid Disconnect/CoA-Request.

    `nas_type` makes it answer as that router type does (radbill.policy.vendors): a request without the type's
    required session keys is refused (Error-Cause 402, as Cisco ISG and Huawei refuse one without
    Acct-Session-Id), a CoA carrying another vendor's rate attribute is refused (401), and a rate CoA to a type
    that cannot change a live session's rate is refused (405)."""

    def __init__(self, ip: str, secret: str, nas_type: str = "mikrotik"):
        self.ip, self.secret, self.nas_type = ip, secret, nas_type
        self.mode = "ack"
        self.received: list[Received] = []
        self.rejected = 0  # requests dropped for a bad authenticator or Message-Authenticator
        self.sessions: dict[str, SimSession] = {}
        self.radius: tuple[str, int, int] | None = None
        # called after every acknowledged accounting packet: radbill folds accounting into radacct ~0.1 s after
        # acknowledging it, and a test that acts on radacct right away waits for that here
        self.settle: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((ip, 0))
        self.coa_port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"nas-sim-{ip}", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> NasSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def use_radius(self, host: str, auth_port: int, acct_port: int) -> None:
        self.radius = (host, auth_port, acct_port)

    def reset(self, mode: str = "ack") -> None:
        with self._lock:
            self.mode, self.received, self.rejected = mode, [], 0

    # --- the NAS as a RADIUS client ----------------------------------------------------------------------
    def _client(self) -> RadiusClient:
        assert self.radius, "call use_radius() first"
        host, auth, acct = self.radius
        client = RadiusClient(host, auth, acct, self.secret, timeout=1.0, retries=3)
        client.client.bind((self.ip, 0))  # FreeRADIUS knows this NAS by its source address
        return client

    def login(self, username: str, password: str) -> Reply | None:
        client = self._client()
        return client.send(client.access_request(username, password, NAS_IP_Address=self.ip))

    def start_session(self, username: str, framed_ip: str = "10.9.0.1") -> SimSession:
        session = SimSession(username, f"{self.ip}-{next(_ids):06d}-{int(time.time() * 1000) % 10**6}", framed_ip)
        self._account(session, "Start")
        with self._lock:
            self.sessions[session.acct_session_id] = session
        return session

    def interim(self, session: SimSession, octets: int = 0) -> None:
        """An Interim-Update for a session the router still holds."""
        self._account(session, "Interim-Update", Acct_Input_Octets=octets // 2, Acct_Output_Octets=octets - octets // 2,
                      Acct_Session_Time=60)

    def stop_session(self, session: SimSession, cause: str = "User-Request") -> None:
        session.open = False
        self._account(session, "Stop", Acct_Terminate_Cause=cause, Acct_Session_Time=5)

    def _account(self, session: SimSession, status: str, **attrs) -> None:
        client = self._client()
        req = client.accounting_request(User_Name=session.username, Acct_Session_Id=session.acct_session_id,
                                        Acct_Status_Type=status, NAS_IP_Address=self.ip, NAS_Port=1,
                                        Framed_IP_Address=session.framed_ip, **attrs)
        reply = client.send(req)
        if reply is None or reply.code != "Accounting-Response":
            raise AssertionError(f"FreeRADIUS did not acknowledge {status} for {session.username}")
        if self.settle is not None:
            self.settle()

    # --- the NAS as a Dynamic Authorization server (RFC 5176) ---------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._sock], [], [], 0.05)
            if not ready:
                continue
            try:
                data, addr = self._sock.recvfrom(4096)
            except OSError:
                return
            self._handle(data, addr)

    def _handle(self, data: bytes, addr) -> None:
        try:
            request = packet.CoAPacket(packet=data, secret=self.secret.encode(), dict=dictionary())
        except packet.PacketError:
            self.rejected += 1
            return
        if request.code not in (packet.DisconnectRequest, packet.CoARequest) or not request.VerifyCoARequest() \
                or request.message_authenticator is None or not request.verify_message_authenticator():
            self.rejected += 1
            return
        attrs = {str(k): request[k][0] for k in request.keys() if k != "Message-Authenticator"}
        with self._lock:
            mode = self.mode
            session = self._find(attrs)
        answer, error_cause = None, None
        refusal = self._refusal(request.code, attrs)
        if mode == "nak":
            answer, error_cause = "nak", ERROR_CAUSE_RESOURCES_UNAVAILABLE
        elif mode in ("ack", "ack-keep") and refusal:
            answer, error_cause = "nak", refusal
        elif mode in ("ack", "ack-keep"):
            answer, error_cause = ("ack", None) if session else ("nak", ERROR_CAUSE_SESSION_NOT_FOUND)
        reply_code = None
        if answer:
            reply = request.CreateReply()
            if answer == "nak":
                reply.code = packet.DisconnectNAK if request.code == packet.DisconnectRequest else packet.CoANAK
                reply.AddAttribute("Error-Cause", error_cause)
            reply.add_message_authenticator()
            self._sock.sendto(reply.ReplyPacket(), addr)
            reply_code = reply.code
        with self._lock:
            self.received.append(Received(request.code, attrs, reply_code))
        if answer == "ack" and request.code == packet.DisconnectRequest and mode != "ack-keep":
            self.stop_session(session, cause="Admin-Reset")  # like RouterOS: ACK, then the Stop
        elif answer == "ack":
            session.attributes.update({k: v for k, v in attrs.items() if k not in SESSION_KEYS})

    def _refusal(self, code: int, attrs: dict[str, str]) -> int | None:
        """The Error-Cause this router type answers a request it cannot act on with, None if it can."""
        router = vendor(self.nas_type)
        if any(key not in attrs for key in router.required_keys):
            return ERROR_CAUSE_MISSING_ATTRIBUTE
        if code == packet.CoARequest:
            rates = {k for k in attrs if k in all_rate_attributes()}
            if rates - set(router.rate_attributes):
                return ERROR_CAUSE_UNSUPPORTED_ATTRIBUTE
            if rates and not router.coa_rate:
                return ERROR_CAUSE_UNSUPPORTED_SERVICE
        return None

    def _find(self, attrs: dict[str, str]) -> SimSession | None:
        """The open session every identifying attribute present agrees with (a router matches by what it got)."""
        if not any(key in attrs for key in SESSION_KEYS):
            return None
        if "Acct-Session-Id" in attrs:
            candidates = [self.sessions.get(attrs["Acct-Session-Id"])]
        else:
            candidates = list(self.sessions.values())
        for session in candidates:
            if session is None or not session.open:
                continue
            if attrs.get("User-Name", session.username) != session.username:
                continue
            if attrs.get("Framed-IP-Address", session.framed_ip) != session.framed_ip:
                continue
            return session
        return None

    def requests_for(self, session: SimSession) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.attributes.get("Acct-Session-Id") == session.acct_session_id]
