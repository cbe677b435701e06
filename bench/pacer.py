"""Access-Requests at a steady rate (open loop, like many NASes), every reply matched and checked.

Used by `bench/restart_gap.py` and by the tests that prove RADIUS keeps answering through a router edit or a
Postgres restart. Open loop on purpose: a closed-loop client waits out a timeout and hides a gap's true length.
"""

from __future__ import annotations

import hashlib
import random
import selectors
import socket
import threading
import time
from dataclasses import dataclass

from bench.packets import access_request

ID_SPACE = 256


@dataclass
class Probe:
    username: str
    expected: int  # packets.ACCESS_ACCEPT or ACCESS_REJECT
    sent: float
    authenticator: bytes
    code: int | None = None  # None: never answered
    answered: float | None = None


class Pacer:
    """Sends `rate` Access-Requests per second round-robin over `users` ((username, password, expected code))."""

    def __init__(self, host: str, port: int, secret: str, users: list[tuple[str, str, int]], rate: float,
                 sockets: int = 8):
        self.address = (host, port)
        self.secret = secret.encode()
        self.users = users
        self.interval = 1.0 / rate
        self.sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(sockets)]
        self.probes: list[Probe] = []
        self._slots: dict[tuple[int, int], Probe] = {}  # (socket, identifier) -> the request in flight on it
        self._lock = threading.Lock()
        self._stop_sending = threading.Event()
        self._stop_receiving = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True),
                         threading.Thread(target=self._receive, daemon=True)]

    def __enter__(self) -> Pacer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, grace: float = 2.0) -> list[Probe]:
        """Stop sending, wait `grace` seconds for late answers, return every probe in send order."""
        if not self._stop_sending.is_set():
            self._stop_sending.set()
            self._threads[0].join()
            time.sleep(grace)
            self._stop_receiving.set()
            self._threads[1].join()
            for sock in self.sockets:
                sock.close()
        return self.probes

    def _send(self) -> None:
        rng = random.Random(7)
        n = 0
        next_at = time.monotonic()
        while not self._stop_sending.is_set():
            username, password, expected = self.users[n % len(self.users)]
            index, ident = (n // ID_SPACE) % len(self.sockets), n % ID_SPACE
            packet, authenticator = access_request(ident, username, password, self.secret, n % 1000, rng)
            with self._lock:
                probe = Probe(username, expected, time.monotonic(), authenticator)
                self._slots[index, ident] = probe
                self.probes.append(probe)
            self.sockets[index].sendto(packet, self.address)
            n += 1
            next_at += self.interval
            self._stop_sending.wait(max(0.0, next_at - time.monotonic()))

    def _receive(self) -> None:
        selector = selectors.DefaultSelector()
        for index, sock in enumerate(self.sockets):
            selector.register(sock, selectors.EVENT_READ, index)
        while not self._stop_receiving.is_set():
            for key, _ in selector.select(timeout=0.1):
                data = key.fileobj.recv(4096)
                if len(data) >= 20:
                    self._match(key.data, data)
        selector.close()

    def _match(self, index: int, data: bytes) -> None:
        with self._lock:
            probe = self._slots.get((index, data[1]))
            # the Response Authenticator proves the reply answers THIS request, not an earlier one on the same id
            if probe is None or probe.code is not None or hashlib.md5(
                    data[:4] + probe.authenticator + data[20:] + self.secret).digest() != data[4:20]:
                return
            probe.code, probe.answered = data[0], time.monotonic()


def gaps(probes: list[Probe]) -> list[tuple[float, float]]:
    """Runs of unanswered requests: (send time of the first, milliseconds until the next answered one was sent)."""
    runs, start = [], None
    for probe in probes:
        if probe.code is None and start is None:
            start = probe.sent
        elif probe.code is not None and start is not None:
            runs.append((start, (probe.sent - start) * 1000))
            start = None
    if start is not None:
        runs.append((start, (probes[-1].sent - start) * 1000))
    return runs


def summary(probes: list[Probe]) -> dict:
    """Counts, wrong answers, and the longest run of unanswered requests in milliseconds of send time."""
    unanswered = [p for p in probes if p.code is None]
    wrong = [p for p in probes if p.code is not None and p.code != p.expected]
    longest = max((ms for _, ms in gaps(probes)), default=0.0)
    return {"sent": len(probes), "unanswered": len(unanswered), "wrong": len(wrong), "gap_ms": round(longest, 1)}
