"""A fake SSLCommerz for tests and the demo: the v4 hosted-page API on loopback, with demo credentials.

    python -m radbill.payments.fakes.sslcommerz --port 8801 [--switch risk --switch no_ipn ...]

Speaks what radbill.payments.sslcommerz cites from the SSLCommerz docs: session init (POST
/gwprocess/v4/api.php), a tiny gateway page (Pay / Cancel / Fail) that sends the IPN server to server and then
POSTs the customer's browser to success_url / fail_url / cancel_url with the same signed fields, the Order
Validation API, the query by tran_id, refunds and the refund query. `switches` misbehave on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import secrets
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import aiohttp
from aiohttp import web

from radbill.payments.fakes import serve
from radbill.payments.sslcommerz import (
    MAX_TRAN_ID,
    MERCHANT_TRANS_PATH,
    SESSION_PATH,
    VALIDATION_PATH,
    sign_fields,
)

DEMO_STORE_ID = "radbilldemo"
DEMO_STORE_PASSWD = "radbilldemo@ssl"
PAGE_PATH = "/gwprocess/v4/gw.php"


@dataclass
class Switches:
    timeout: bool = False          # validation, query and refund APIs hold the request past the client's deadline
    duplicate_ipn: bool = False    # the IPN is sent twice
    late_ipn: bool = False         # the IPN is sent `late_seconds` after the browser redirect
    no_ipn: bool = False           # the IPN is never sent
    forged_sign: bool = False      # the IPN and redirect carry a verify_sign made without the store password
    amount_mismatch: bool = False  # the gateway records one taka less than the session asked for
    risk: bool = False             # risk_level 1 ("hold and verify the customer")
    refuse_session: bool = False   # session init answers FAILED
    late_seconds: float = 0.5


@dataclass
class Txn:
    sessionkey: str
    tran_id: str
    amount: str          # as the session asked, "500.00"
    currency: str
    urls: dict[str, str]
    ipn_url: str
    value_a: str = ""
    status: str = ""     # "" until the customer acts: VALID, FAILED, CANCELLED
    val_id: str = ""
    bank_tran_id: str = ""
    recorded_amount: str = ""
    risk_level: str = "0"
    validated: bool = False
    refunded: Decimal = Decimal("0")
    tran_date: str = ""


@dataclass
class FakeSSLCommerz:
    store_id: str = DEMO_STORE_ID
    store_passwd: str = DEMO_STORE_PASSWD
    switches: Switches = field(default_factory=Switches)
    hold_seconds: float = 5.0
    txns: dict[str, Txn] = field(default_factory=dict)     # sessionkey -> attempt
    ipns: list[tuple[str, dict, int | str]] = field(default_factory=list)  # (url, fields, status or error)
    refunds: dict[str, dict] = field(default_factory=dict)  # refund_ref_id -> record
    calls: list[str] = field(default_factory=list)          # server-to-server API calls, by path, in order

    def __post_init__(self):
        self.url = ""
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._released = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()

    def gateway_settings(self) -> dict:
        """A payment_gateways row pointing at this fake (what `make run` gives the demo operator)."""
        return {"kind": "sslcommerz", "mode": "sandbox", "base_url": self.url,
                "credentials": {"store_id": self.store_id, "store_passwd": self.store_passwd}}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(SESSION_PATH, self._session)
        app.router.add_get(PAGE_PATH, self._page)
        app.router.add_post(PAGE_PATH, self._act)
        app.router.add_get(VALIDATION_PATH, self._validation)
        app.router.add_get(MERCHANT_TRANS_PATH, self._merchant_trans)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeSSLCommerz:
        self._client = aiohttp.ClientSession()
        self._runner, self.url = await serve(self.app(), host, port)
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._tasks:  # let IPNs in flight land (a cancelled one leaves the merchant's server waiting)
            await asyncio.wait(list(self._tasks), timeout=2)
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    # ---- session and gateway page ---------------------------------------------------------------------------
    async def _session(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        if form.get("store_id") != self.store_id or form.get("store_passwd") != self.store_passwd:
            return _failed("Store Credential Error Or Store is De-active")
        if self.switches.refuse_session:
            return _failed("Merchant is not active for this service")
        missing = [k for k in ("total_amount", "currency", "tran_id", "success_url", "fail_url", "cancel_url",
                               "cus_name", "cus_email", "cus_phone", "product_category") if not form.get(k)]
        if missing:
            return _failed(f"Invalid Information: {', '.join(missing)} missing")
        amount = _decimal(form["total_amount"])
        if amount is None or not Decimal("10.00") <= amount <= Decimal("500000.00"):
            return _failed("Invalid Amount. Amount should be between 10.00 and 500000.00")
        if len(form["tran_id"]) > MAX_TRAN_ID:
            return _failed("tran_id is too long (max 30)")
        key = secrets.token_hex(16).upper()
        urls = {"VALID": form["success_url"], "FAILED": form["fail_url"], "CANCELLED": form["cancel_url"]}
        self.txns[key] = Txn(key, form["tran_id"], form["total_amount"], form["currency"].upper(), urls,
                             form.get("ipn_url", ""), form.get("value_a", ""))
        page = f"{self.url}{PAGE_PATH}?Q=pay&SESSIONKEY={key}"
        return web.json_response({"status": "SUCCESS", "failedreason": "", "sessionkey": key, "gw": {},
                                  "redirectGatewayURL": page, "GatewayPageURL": page, "storeBanner": "",
                                  "storeLogo": "", "desc": []})

    async def _page(self, request: web.Request) -> web.Response:
        txn = self.txns.get(request.query.get("SESSIONKEY", ""))
        if txn is None:
            return web.Response(status=404, text="Session expired or not found")
        key, amount = html.escape(txn.sessionkey), html.escape(f"{txn.currency} {txn.amount}")
        buttons = "".join(f'<button name="action" value="{a}">{a.title()}</button> ' for a in ("pay", "cancel", "fail"))
        body = (f"<!doctype html><title>SSLCommerz (fake)</title><h1>SSLCommerz sandbox (fake)</h1>"
                f"<p>Amount: <b id=amount>{amount}</b></p><form method=post action='{PAGE_PATH}'>"
                f"<input type=hidden name=SESSIONKEY value='{key}'>{buttons}</form>")
        return web.Response(text=body, content_type="text/html")

    async def _act(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            url, posted = await self.complete(str(form.get("SESSIONKEY", "")), str(form.get("action", "")))
        except KeyError:
            return web.Response(status=404, text="Session expired or not found")
        inputs = "".join(f"<input type=hidden name='{html.escape(k)}' value='{html.escape(v)}'>"
                         for k, v in posted.items())
        body = (f"<!doctype html><title>Redirecting</title><form id=back method=post action='{html.escape(url)}'>"
                f"{inputs}<button>Continue</button></form><script>document.getElementById('back').submit()</script>")
        return web.Response(text=body, content_type="text/html")

    async def complete(self, sessionkey: str, action: str) -> tuple[str, dict[str, str]]:
        """The customer pressed Pay / Cancel / Fail: record it, send the IPN (per the switches) and return where
        the browser is sent and the fields it POSTs there."""
        txn = self.txns[sessionkey]
        if txn.status:  # a finished session's page is gone, as at the real gateway
            raise KeyError(sessionkey)
        txn.status = {"pay": "VALID", "cancel": "CANCELLED"}.get(action, "FAILED")
        txn.tran_date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        if txn.status == "VALID":
            txn.val_id = f"{datetime.now(UTC):%y%m%d%H%M%S}{secrets.token_hex(6)}"
            txn.bank_tran_id = f"{datetime.now(UTC):%y%m%d%H%M%S}{next(self._ids):06d}BANK"
            txn.risk_level = "1" if self.switches.risk else "0"
        amount = _decimal(txn.amount) or Decimal("0")
        txn.recorded_amount = f"{amount - (1 if self.switches.amount_mismatch else 0):.2f}"
        posted = self.posted_fields(txn)
        self._send_ipn(txn, posted)
        return txn.urls[txn.status], posted

    def posted_fields(self, txn: Txn) -> dict[str, str]:
        """What SSLCommerz POSTs to the IPN listener and the redirect URL, signed."""
        data = {"status": txn.status, "tran_date": txn.tran_date, "tran_id": txn.tran_id, "val_id": txn.val_id,
                "amount": txn.recorded_amount, "store_amount": txn.recorded_amount, "currency": "BDT",
                "bank_tran_id": txn.bank_tran_id, "card_type": "NAGAD-Nagad", "card_no": "",
                "card_issuer": "Nagad", "card_brand": "MOBILEBANKING", "card_issuer_country": "Bangladesh",
                "card_issuer_country_code": "BD", "currency_type": txn.currency,
                "currency_amount": txn.recorded_amount, "currency_rate": "1.0000", "base_fair": "0.00",
                "value_a": txn.value_a, "value_b": "", "value_c": "", "value_d": "",
                "risk_level": txn.risk_level, "risk_title": "Safe" if txn.risk_level == "0" else "Risky"}
        if txn.status == "FAILED":
            data["error"] = "Declined by the issuer (fake)"
        data["verify_key"] = ",".join(k for k in data if k != "verify_key")
        password = "not-the-store-password" if self.switches.forged_sign else self.store_passwd
        data["verify_sign"] = sign_fields({k: data[k] for k in data["verify_key"].split(",")}, password)
        return data

    def _send_ipn(self, txn: Txn, posted: dict[str, str]) -> None:
        if not txn.ipn_url or self.switches.no_ipn:
            return
        times = 2 if self.switches.duplicate_ipn else 1
        delay = self.switches.late_seconds if self.switches.late_ipn else 0.0
        task = asyncio.get_running_loop().create_task(self._post_ipn(txn.ipn_url, posted, times, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_ipn(self, url: str, posted: dict[str, str], times: int, delay: float) -> None:
        await asyncio.sleep(delay)
        for _ in range(times):
            try:
                async with self._client.post(url, data=posted, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    self.ipns.append((url, posted, resp.status))
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.ipns.append((url, posted, type(exc).__name__))

    async def ipns_settled(self) -> None:
        """Wait until every IPN in flight has been delivered (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ---- server-to-server APIs ------------------------------------------------------------------------------
    def _authorised(self, query) -> bool:
        return query.get("store_id") == self.store_id and query.get("store_passwd") == self.store_passwd

    async def _stall(self) -> None:
        if self.switches.timeout:
            try:
                await asyncio.wait_for(self._released.wait(), self.hold_seconds)
            except TimeoutError:
                pass

    async def _validation(self, request: web.Request) -> web.Response:
        self.calls.append(request.path)
        await self._stall()
        if not self._authorised(request.query):
            return web.json_response({"APIConnect": "INVALID_REQUEST", "status": "INVALID_TRANSACTION"})
        val_id = request.query.get("val_id", "")
        txn = next((t for t in self.txns.values() if val_id and t.val_id == val_id), None)
        if txn is None:
            return web.json_response({"APIConnect": "DONE", "status": "INVALID_TRANSACTION"})
        record = self.record(txn)
        txn.validated = True  # the docs: once validated, later calls answer VALIDATED
        return web.json_response({**record, "APIConnect": "DONE", "validated_on": record["tran_date"],
                                  "gw_version": "fake"})

    def record(self, txn: Txn) -> dict[str, str]:
        status = "VALIDATED" if txn.status == "VALID" and txn.validated else txn.status
        return {"status": status, "tran_date": txn.tran_date, "tran_id": txn.tran_id, "val_id": txn.val_id,
                "amount": txn.recorded_amount, "store_amount": txn.recorded_amount, "currency": "BDT",
                "bank_tran_id": txn.bank_tran_id, "card_type": "NAGAD-Nagad", "card_no": "",
                "currency_type": txn.currency, "currency_amount": txn.recorded_amount, "currency_rate": "1.0000",
                "value_a": txn.value_a, "risk_level": txn.risk_level,
                "risk_title": "Safe" if txn.risk_level == "0" else "Risky",
                "error": "Declined by the issuer (fake)" if txn.status == "FAILED" else ""}

    async def _merchant_trans(self, request: web.Request) -> web.Response:
        self.calls.append(request.path)
        await self._stall()
        query = request.query
        if not self._authorised(query):
            return web.json_response({"APIConnect": "INVALID_REQUEST"})
        if "bank_tran_id" in query:
            return web.json_response(self._refund(query))
        if "refund_ref_id" in query:
            found = self.refunds.get(query["refund_ref_id"])
            if found is None:
                return web.json_response({"APIConnect": "DONE", "status": "failed", "errorReason": "Not found"})
            return web.json_response({"APIConnect": "DONE", **found, "status": "refunded"})
        tran_id = query.get("tran_id", "")
        elements = [self.record(t) for t in self.txns.values() if tran_id and t.tran_id == tran_id and t.status]
        return web.json_response({"APIConnect": "DONE", "no_of_trans_found": len(elements), "element": elements})

    def _refund(self, query) -> dict:
        bank_tran_id = query.get("bank_tran_id", "")
        txn = next((t for t in self.txns.values() if t.bank_tran_id and t.bank_tran_id == bank_tran_id), None)
        answer = {"APIConnect": "DONE", "bank_tran_id": bank_tran_id}
        amount = _decimal(query.get("refund_amount", ""))
        if txn is None or txn.status != "VALID":
            return {**answer, "status": "failed", "errorReason": "Invalid bank_tran_id"}
        if not query.get("refund_trans_id") or not query.get("refund_remarks"):
            return {**answer, "status": "failed", "errorReason": "refund_trans_id and refund_remarks are required"}
        if amount is None or amount <= 0 or txn.refunded + amount > Decimal(txn.recorded_amount):
            return {**answer, "status": "failed", "errorReason": "Refund amount exceeds the transaction amount"}
        txn.refunded += amount
        ref = f"RF{next(self._ids):08d}"
        self.refunds[ref] = {"bank_tran_id": bank_tran_id, "tran_id": txn.tran_id, "refund_ref_id": ref,
                             "amount": f"{amount:.2f}", "initiated_on": txn.tran_date}
        return {**answer, "trans_id": txn.tran_id, "refund_ref_id": ref, "status": "success"}


def _failed(reason: str) -> web.Response:
    return web.json_response({"status": "FAILED", "failedreason": reason, "sessionkey": "", "GatewayPageURL": ""})


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        return None
    return value if value.is_finite() else None


def main(argv: list[str] | None = None) -> None:
    names = [f.name for f in fields(Switches) if f.type == "bool"]
    parser = argparse.ArgumentParser(description="A fake SSLCommerz on 127.0.0.1 (demo credentials).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--switch", action="append", default=[], choices=names, help="misbehave on purpose")
    args = parser.parse_args(argv)

    async def run() -> None:
        fake = FakeSSLCommerz(switches=Switches(**{name: True for name in args.switch}))
        await fake.start(port=args.port)
        print(f"fake SSLCommerz at {fake.url} store_id={fake.store_id} store_passwd={fake.store_passwd}",
              flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await fake.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
