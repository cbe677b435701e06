"""What the SSLCommerz and Nagad adapters cost per call against their local fakes (loopback, one process).

    .venv/bin/python -m bench.gateways [--n 200]

Prints p50 / p95 milliseconds of: a bare loopback GET of the fake's validation API (the baseline: HTTP only),
SSLCommerz verify (signature filter + Order Validation API + the checks), SSLCommerz query, Nagad start
(initialize + complete: RSA seal and sign on our side, open and check on the fake's, in the same process) and
Nagad verify. The fakes run in this process, so their work is counted too: a real gateway's figure is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import time

import aiohttp

from radbill.payments.fakes.nagad import FakeNagad
from radbill.payments.fakes.sslcommerz import FakeSSLCommerz
from radbill.payments.gateway import IntentView, ReturnUrls
from radbill.payments.nagad import NagadAdapter
from radbill.payments.sslcommerz import VALIDATION_PATH, SSLCommerzAdapter

URLS = ReturnUrls("http://127.0.0.1:9/s", "http://127.0.0.1:9/f", "http://127.0.0.1:9/c")


async def timed(samples: list[float], call) -> object:
    began = time.perf_counter()
    result = await call
    samples.append((time.perf_counter() - began) * 1000)
    return result


def line(name: str, samples: list[float]) -> str:
    p95 = statistics.quantiles(samples, n=20)[18]
    return f"{name:<34} p50 {statistics.median(samples):7.2f} ms   p95 {p95:7.2f} ms   (n={len(samples)})"


async def run(n: int) -> None:
    ssl, nagad = await FakeSSLCommerz().start(), await FakeNagad().start()
    figures: dict[str, list[float]] = {k: [] for k in ("baseline", "ssl_verify", "ssl_query", "nagad_start",
                                                       "nagad_verify")}
    async with aiohttp.ClientSession() as http:
        row = ssl.gateway_settings()
        ssl_adapter = SSLCommerzAdapter(row["base_url"], row["credentials"], "sandbox", http)
        row = nagad.gateway_settings()
        nagad_adapter = NagadAdapter(row["base_url"], row["credentials"], "sandbox", http)
        for i in range(n):
            intent = IntentView(id=i, reference=f"BENCH{i:08d}{time.time_ns() % 10**9}", amount_minor=50000,
                                currency="BDT", customer_label="be***h")
            started = await ssl_adapter.start(intent, URLS)
            _, posted = await ssl.complete(started.gateway_payment_id, "pay")
            query = {"val_id": posted["val_id"], **ssl_adapter._auth()}  # noqa: SLF001 -- the same request, bare
            async with http.get(ssl.url + VALIDATION_PATH, params=query) as resp:  # warm the connection
                await resp.read()
            began = time.perf_counter()
            async with http.get(ssl.url + VALIDATION_PATH, params=query) as resp:
                await resp.json()
            figures["baseline"].append((time.perf_counter() - began) * 1000)
            assert (await timed(figures["ssl_verify"], ssl_adapter.verify(intent, posted))).status == "paid"
            assert (await timed(figures["ssl_query"], ssl_adapter.query(intent))).status == "paid"
            started = await timed(figures["nagad_start"], nagad_adapter.start(intent, URLS))
            nagad.finish(started.gateway_payment_id, "pay")
            stored = dataclasses.replace(intent, gateway_payment_id=started.gateway_payment_id)
            assert (await timed(figures["nagad_verify"], nagad_adapter.verify(stored, {}))).status == "paid"
    await ssl.stop()
    await nagad.stop()
    print(line("baseline: bare GET of validation", figures["baseline"]))
    print(line("sslcommerz verify (signed IPN)", figures["ssl_verify"]))
    print(line("sslcommerz query by tran_id", figures["ssl_query"]))
    print(line("nagad start (initialize+complete)", figures["nagad_start"]))
    print(line("nagad verify/payment", figures["nagad_verify"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    asyncio.run(run(parser.parse_args().n))


if __name__ == "__main__":
    main()
