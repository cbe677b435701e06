"""A closed-loop UDP RADIUS load generator: N requests in flight, one socket (source port) per in-flight slot.

Each slot keeps exactly one request outstanding and rotates its RADIUS identifier, so a (source port, id) pair
comes back only after the previous request on it was answered: FreeRADIUS never sees a "conflicting packet",
and the number of (port, id) keys it tracks stays below `max_requests` (slots x 256).

Several worker processes (fork) share the slots; each runs a plain epoll loop (asyncio costs ~3x more per
packet). Access-Requests are pre-built (random users, fresh authenticators, valid Message-Authenticator) so
the hot loop only sends bytes, times the reply and checks its Response Authenticator.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import select
import signal
import socket
import time
from array import array
from collections import deque
from dataclasses import dataclass, field

from bench import packets

POOL_PRIME = 65537  # slot s sends templates s, s+S, s+2S... mod a prime: a (port, id, vector) never repeats


@dataclass
class LoadSpec:
    mode: str  # "auth" or "acct"
    host: str
    port: int
    secret: bytes
    users: list[tuple[str, str]]
    slots: int  # requests in flight, over all processes
    processes: int
    warmup: float
    seconds: float
    timeout: float = 2.0
    retries: int = 0  # acct: retransmit an unanswered request this many times, as a NAS does
    rate: float = 0.0  # acct: new Accounting-Requests per second over all processes (0: as fast as answered)
    label: str = "bench"


@dataclass
class WorkerResult:
    sent: int = 0
    replies: int = 0  # in the measured window
    answered_total: int = 0  # authentic replies over the whole run (warm-up and drain included)
    accepts: int = 0
    rejects: int = 0
    other: int = 0
    timeouts: int = 0
    stale: int = 0  # replies for a request we had given up on
    forged: int = 0  # Response Authenticator did not verify
    latencies: array = field(default_factory=lambda: array("d"))
    cpu_seconds: float = 0.0  # this process, measured window only
    checked: int = 0  # replies fully parsed (Message-Authenticator, attributes)
    missing_ma: int = 0
    missing_rate_limit: int = 0
    # accounting
    acked: dict = field(default_factory=lambda: {packets.START: 0, packets.INTERIM: 0, packets.STOP: 0})
    sessions_acked: int = 0  # sessions with at least one acknowledged packet
    sessions_sent: int = 0  # sessions with at least one packet sent
    sessions_stopped: int = 0  # Stop acknowledged
    retransmits: int = 0
    abandoned: int = 0  # requests given up after all retries


def _sockets(spec: LoadSpec, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.connect((spec.host, spec.port))
        s.setblocking(False)
        socks.append(s)
    return socks


def build_auth_pool(spec: LoadSpec, worker: int, size: int = POOL_PRIME) -> tuple[list[bytes], list[bytes]]:
    """`size` Access-Requests for random users; template t carries RADIUS id t % 256."""
    rng = random.Random(worker * 7919 + 1)
    pool, vectors = [], []
    for t in range(size):
        username, password = spec.users[rng.randrange(len(spec.users))]
        pkt, vector = packets.access_request(t & 0xFF, username, password, spec.secret, t & 0xFFFF, rng)
        pool.append(pkt)
        vectors.append(vector)
    return pool, vectors


def _check_reply(result: WorkerResult, data: bytes, vector: bytes, secret: bytes) -> None:
    result.checked += 1
    if not packets.reply_message_authenticator_ok(data, vector, secret):
        result.missing_ma += 1
    if data[0] == packets.ACCESS_ACCEPT:
        key = packets.MIKROTIK_VENDOR << 8 | packets.MIKROTIK_RATE_LIMIT
        if key not in packets.reply_attributes(data):
            result.missing_rate_limit += 1


def run_auth(spec: LoadSpec, worker: int, slots: int, start_at: float, pool, vectors) -> WorkerResult:
    result = WorkerResult()
    socks = _sockets(spec, slots)
    recv = [s.recv for s in socks]
    send = [s.send for s in socks]
    poller = select.epoll()
    for s in socks:
        poller.register(s.fileno(), select.EPOLLIN)
    slot_of = {s.fileno(): i for i, s in enumerate(socks)}
    size, secret, md5_ok = len(pool), spec.secret, packets.reply_is_authentic
    inflight = [-1] * slots
    sent_at = [0.0] * slots
    next_template = list(range(slots))
    measure_from, measure_to = start_at + spec.warmup, start_at + spec.warmup + spec.seconds
    lat, clock = result.latencies, time.monotonic
    counts = {packets.ACCESS_ACCEPT: 0, packets.ACCESS_REJECT: 0}
    total = 0

    def fire(i: int, now: float) -> None:
        t = next_template[i]
        next_template[i] = (t + slots) % size
        inflight[i] = t
        sent_at[i] = now
        send[i](pool[t])

    while clock() < start_at:
        time.sleep(min(0.01, max(0.0, start_at - clock())))
    now = clock()
    for i in range(slots):
        fire(i, now)
    result.sent = slots
    cpu_start = None
    active, next_scan, check_every = slots, now + 0.05, 997
    while active:
        events = poller.poll(0.05)
        now = clock()
        if cpu_start is None and now >= measure_from:
            cpu_start = time.process_time()
        for fd, _ in events:
            i = slot_of[fd]
            try:
                data = recv[i](4096)
            except (BlockingIOError, ConnectionRefusedError):
                continue
            t = inflight[i]
            if t < 0 or len(data) < 20 or data[1] != t & 0xFF:
                result.stale += 1
                continue
            if not md5_ok(data, vectors[t], secret):
                result.forged += 1
                continue
            total += 1
            if measure_from <= now < measure_to:
                lat.append(now - sent_at[i])
                code = data[0]
                if code in counts:
                    counts[code] += 1
                else:
                    result.other += 1
                if len(lat) % check_every == 1:
                    _check_reply(result, data, vectors[t], secret)
            if now < measure_to:
                fire(i, now)
                result.sent += 1
            else:
                inflight[i] = -1
                active -= 1
        if now >= next_scan:
            next_scan = now + 0.05
            for i in range(slots):
                if inflight[i] >= 0 and now - sent_at[i] > spec.timeout:
                    if measure_from <= now < measure_to + spec.timeout:
                        result.timeouts += 1
                    if now < measure_to:
                        fire(i, now)
                        result.sent += 1
                    else:
                        inflight[i] = -1
                        active -= 1
        if cpu_start is not None and now >= measure_to and result.cpu_seconds == 0.0:
            result.cpu_seconds = time.process_time() - cpu_start
    result.accepts, result.rejects = counts[packets.ACCESS_ACCEPT], counts[packets.ACCESS_REJECT]
    result.replies = len(lat)  # one latency per reply counted in the window
    result.answered_total = total
    for s in socks:
        s.close()
    return result


class _AcctSlot:
    """One NAS port: sessions run Start -> Interim-Update -> Stop, one request outstanding."""

    __slots__ = ("session", "step", "ident", "packet", "vector", "sent_at", "tries", "acked_any", "username")

    def __init__(self):
        self.session, self.step, self.ident, self.tries, self.acked_any = -1, 0, 0, 0, False
        self.packet = self.vector = b""
        self.sent_at = 0.0
        self.username = ""


def run_acct(spec: LoadSpec, worker: int, slots: int, start_at: float) -> WorkerResult:
    result = WorkerResult()
    rng = random.Random(worker * 104729 + 3)
    socks = _sockets(spec, slots)
    poller = select.epoll()
    for s in socks:
        poller.register(s.fileno(), select.EPOLLIN)
    slot_of = {s.fileno(): i for i, s in enumerate(socks)}
    state = [_AcctSlot() for _ in range(slots)]
    steps = (packets.START, packets.INTERIM, packets.STOP)
    measure_from, measure_to = start_at + spec.warmup, start_at + spec.warmup + spec.seconds
    clock, lat = time.monotonic, result.latencies
    session_counter = [0]
    # --rate: a slot with its next packet ready waits for a token; tokens come at the rate from the start, so a
    # server that answers late meets the backlog (up to the slots in flight), as a NAS fleet's timers would
    interval = spec.processes / spec.rate if spec.rate else 0.0
    paced: deque[int] = deque()
    waiting = [False] * slots  # in `paced`: nothing outstanding, so no timeout
    next_token = start_at

    def fire(i: int, now: float, new_packet: bool) -> None:
        st = state[i]
        if new_packet:
            if st.step == 0:
                session_counter[0] += 1
                st.session, st.acked_any = session_counter[0], False
                st.username = spec.users[rng.randrange(len(spec.users))][0]
                result.sessions_sent += 1
            st.ident = (st.ident + 1) & 0xFF
            attrs = packets.accounting_attributes(
                steps[st.step], st.username, f"{spec.label}-{worker}-{i}-{st.session}", worker * 10000 + i,
                st.step * 60, st.step * 1_000_000, int(time.time()))
            st.packet, st.vector = packets.accounting_request(st.ident, spec.secret, attrs)
            st.tries = 0
        else:
            st.tries += 1
            result.retransmits += 1
        st.sent_at = now
        socks[i].send(st.packet)
        result.sent += 1

    def want(i: int, now: float) -> None:
        if interval:
            paced.append(i)
            waiting[i] = True
        else:
            fire(i, now, True)

    while clock() < start_at:
        time.sleep(min(0.01, max(0.0, start_at - clock())))
    now = clock()
    for i in range(slots):
        want(i, now)
    active = slots
    idle = [False] * slots
    cpu_start, next_scan = None, now + 0.05

    def advance(i: int, now: float) -> None:
        nonlocal active
        st = state[i]
        st.step = (st.step + 1) % 3
        if now < measure_to or st.step != 0:
            if now >= measure_to + spec.timeout * (spec.retries + 1) * 3:
                idle[i] = True  # a bounded drain: never more than ~3 timeouts past the window
                active -= 1
                return
            want(i, now)
        else:
            idle[i] = True
            active -= 1

    while active:
        now = clock()
        while paced and now >= next_token:
            i = paced.popleft()
            waiting[i] = False
            fire(i, now, True)
            next_token += interval
        events = poller.poll(min(0.05, max(0.0, next_token - now)) if paced else 0.05)
        now = clock()
        if cpu_start is None and now >= measure_from:
            cpu_start = time.process_time()
        for fd, _ in events:
            i = slot_of[fd]
            try:
                data = socks[i].recv(4096)
            except (BlockingIOError, ConnectionRefusedError):
                continue
            st = state[i]
            if idle[i] or len(data) < 20 or data[1] != st.ident or data[0] != packets.ACCOUNTING_RESPONSE:
                result.stale += 1
                continue
            if not packets.reply_is_authentic(data, st.vector, spec.secret):
                result.forged += 1
                continue
            if measure_from <= now < measure_to:
                lat.append(now - st.sent_at)
            result.acked[steps[st.step]] += 1
            if not st.acked_any:
                st.acked_any = True
                result.sessions_acked += 1
            if steps[st.step] == packets.STOP:
                result.sessions_stopped += 1
            advance(i, now)
        if now >= next_scan:
            next_scan = now + 0.05
            for i in range(slots):
                st = state[i]
                if not idle[i] and not waiting[i] and now - st.sent_at > spec.timeout:
                    result.timeouts += 1
                    if st.tries < spec.retries:
                        fire(i, now, False)
                    else:
                        result.abandoned += 1
                        st.step = 2  # give up on this session; the next one starts
                        advance(i, now)
        if cpu_start is not None and now >= measure_to and result.cpu_seconds == 0.0:
            result.cpu_seconds = time.process_time() - cpu_start
    result.replies = len(lat)
    for s in socks:
        s.close()
    return result


def _worker_main(spec: LoadSpec, worker: int, slots: int, conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us by PID
    try:
        pool = vectors = None
        if spec.mode == "auth":
            pool, vectors = build_auth_pool(spec, worker)
        conn.send("ready")
        start_at = conn.recv()
        if spec.mode == "auth":
            result = run_auth(spec, worker, slots, start_at, pool, vectors)
        else:
            result = run_acct(spec, worker, slots, start_at)
        conn.send(("ok", result))
    except BaseException as exc:  # report, never hang the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class LoadRun:
    """Start the workers (they build their packets), then release them together; `wait()` merges results."""

    def __init__(self, spec: LoadSpec):
        self.spec = spec
        self.ctx = multiprocessing.get_context("fork")
        self.workers: list[tuple[multiprocessing.Process, object]] = []

    def start(self, lead: float = 0.3) -> float:
        per_worker = [n for n in split(self.spec.slots, self.spec.processes) if n > 0]
        for w, slots in enumerate(per_worker):
            parent, child = self.ctx.Pipe()
            proc = self.ctx.Process(target=_worker_main, args=(self.spec, w, slots, child), daemon=True)
            proc.start()
            child.close()
            self.workers.append((proc, parent))
        for proc, conn in self.workers:
            if not conn.poll(120) or conn.recv() != "ready":
                raise RuntimeError(f"load generator worker {proc.pid} did not get ready")
        start_at = time.monotonic() + lead
        for _, conn in self.workers:
            conn.send(start_at)
        return start_at

    def wait(self) -> list[WorkerResult]:
        limit = self.spec.warmup + self.spec.seconds + self.spec.timeout * (self.spec.retries + 2) * 4 + 60
        results = []
        for proc, conn in self.workers:
            if not conn.poll(limit):
                raise RuntimeError(f"load generator worker {proc.pid} did not finish within {limit:.0f}s")
            status, payload = conn.recv()
            if status != "ok":
                raise RuntimeError(f"load generator worker {proc.pid} failed: {payload}")
            results.append(payload)
            proc.join(5)
        self.workers = []
        return results

    def stop(self) -> None:
        """Terminate whatever workers are left (by their PID)."""
        for proc, conn in self.workers:
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)
            proc.join(5)
            conn.close()
        self.workers = []
