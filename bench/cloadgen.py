"""Drive bench/radload (the C closed-loop generator) with the same interface as `bench.loadgen.LoadRun`.

The Python generator spends ~10-20 µs of CPU per request, which on this 2-core box is CPU the server under test
does not get: rlm_files answered ~30 % faster under a C generator. radload does the same work (same packets,
same checks, same accounting sessions) in one thread of C and reports its own CPU time, so the generator's
share of the machine is printed beside every figure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from array import array
from pathlib import Path

from bench import packets
from bench.loadgen import LoadSpec, WorkerResult

BENCH_DIR = Path(__file__).resolve().parent
BINARY = BENCH_DIR / "radload"
SOURCE = BENCH_DIR / "radload.c"


def ensure_built() -> Path:
    """Build radload with the Makefile's rule if it is missing or older than its source."""
    if not BINARY.exists() or BINARY.stat().st_mtime < SOURCE.stat().st_mtime:
        subprocess.run(["make", "--no-print-directory", "-C", str(BENCH_DIR.parent), "bench/radload"], check=True)
    return BINARY


def result_from(counts: dict, latencies: array) -> WorkerResult:
    result = WorkerResult(latencies=latencies)
    for name in ("sent", "replies", "answered_total", "accepts", "rejects", "other", "timeouts", "stale",
                 "forged", "checked", "missing_ma", "missing_rate_limit", "retransmits", "abandoned",
                 "sessions_acked", "sessions_sent", "sessions_stopped", "cpu_seconds"):
        setattr(result, name, counts[name])
    result.acked = {packets.START: counts["acked_start"], packets.INTERIM: counts["acked_interim"],
                    packets.STOP: counts["acked_stop"]}
    return result


class CLoadRun:
    """One radload process holding every slot (one thread of C keeps up with the fastest server here)."""

    def __init__(self, spec: LoadSpec):
        self.spec = spec
        self.process: subprocess.Popen | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="radload-"))

    def start(self, lead: float = 0.3) -> float:
        spec = self.spec
        users = self.dir / "users.tsv"
        users.write_text("".join(f"{name}\t{password}\n" for name, password in spec.users))
        command = [str(ensure_built()), "--mode", spec.mode, "--host", spec.host, "--port", str(spec.port),
                   "--users", str(users), "--slots", str(spec.slots), "--warmup", str(spec.warmup),
                   "--seconds", str(spec.seconds), "--timeout", str(spec.timeout), "--retries", str(spec.retries),
                   "--label", spec.label, "--latencies", str(self.dir / "latencies.bin"),
                   "--seed", str(int(time.time() * 1000) % 1_000_000)]
        # the secret in the environment, not in argv (readable by anyone in /proc/PID/cmdline)
        env = {**os.environ, "RADLOAD_SECRET": spec.secret.decode()}
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"radload {self.process.pid} did not get ready (exit {self.process.poll()})")
        start_at = time.monotonic() + lead
        self.process.stdin.write(f"{start_at!r}\n")
        self.process.stdin.close()
        self.process.stdin = None  # communicate() would flush it
        return start_at

    def wait(self) -> list[WorkerResult]:
        spec = self.spec
        limit = spec.warmup + spec.seconds + spec.timeout * (spec.retries + 2) * 4 + 60
        try:
            out, _ = self.process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"radload {self.process.pid} did not finish within {limit:.0f}s") from None
        if self.process.returncode != 0:
            raise RuntimeError(f"radload {self.process.pid} failed with exit code {self.process.returncode}")
        latencies = array("d")
        latencies.frombytes((self.dir / "latencies.bin").read_bytes())
        self.process = None
        return [result_from(json.loads(out.strip().splitlines()[-1]), latencies)]

    def stop(self) -> None:
        """Terminate radload if it is still running (by its PID), and remove its files."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(5)
        self.process = None
        for path in self.dir.glob("*"):
            path.unlink()
        self.dir.rmdir()
