"""A local stand-in for bKash Tokenized Checkout: the same endpoints, headers, fields and status values, on loopback.

    python -m radbill.payments.fakes.bkash --port 9100   (prints the generated merchant credentials)

Behaviour switches (POST /_fake/mode {"mode": ...}, or ?mode=... on the checkout page) decide what the next payment
does when the customer presses Pay:
  success          redirect to callbackURL?status=success; execute completes it
  cancel / failure the customer cancels / bKash declines: status=cancel / status=failure
  timeout          execute and status queries stall for `stall` seconds (longer than the client waits)
  duplicate        the browser is redirected AND the fake calls the callback itself, twice more
  late             the callback comes `late` seconds after Pay (the browser only sees "you may close this page")
  never            the customer paid, but no callback is ever sent (reconciliation must find it)
  forged           the callback says success but the customer never authorised anything
  amount_mismatch  execute reports one taka less than the payment was created for
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import ClientSession, web

MODES = ("success", "cancel", "failure", "timeout", "duplicate", "late", "never", "forged", "amount_mismatch")
_seq = itertools.count(1)


@dataclass
class FakePayment:
    payment_id: str
    amount: str
    currency: str
    invoice: str
    payer: str
    callback: str
    mode: str
    state: str = "Initiated"  # Initiated -> Authorized (pressed Pay) -> Completed (executed) | Cancelled | Failed
    trx_id: str | None = None
    refunds: list[dict] = field(default_factory=list)


class FakeBkash:
    def __init__(self, credentials: dict[str, str] | None = None, stall: float = 3.0, late: float = 2.0):
        self.credentials = credentials or {"username": "demo-merchant", "password": secrets.token_urlsafe(12),
                                           "app_key": secrets.token_hex(8), "app_secret": secrets.token_hex(16)}
        self.mode = "success"
        self.stall, self.late = stall, late
        self.tokens: dict[str, float] = {}
        self.payments: dict[str, FakePayment] = {}
        self.calls: list[str] = []  # endpoint names, in order (tests count executes and queries)
        self.base_url = ""
        self._tasks: set[asyncio.Task] = set()

    # --- API --------------------------------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        token = request.headers.get("Authorization", "")
        return (self.tokens.get(token, 0) > time.time()
                and request.headers.get("X-APP-Key") == self.credentials["app_key"])

    async def grant(self, request: web.Request) -> web.Response:
        body = await request.json()
        c = self.credentials
        if (request.headers.get("username"), request.headers.get("password")) != (c["username"], c["password"]) \
                or (body.get("app_key"), body.get("app_secret")) != (c["app_key"], c["app_secret"]):
            return web.json_response({"statusCode": "2001", "statusMessage": "Invalid App Key"}, status=401)
        if request.path.endswith("/refresh") and body.get("refresh_token") not in self.tokens:
            return web.json_response({"statusCode": "2079", "statusMessage": "Invalid refresh token"}, status=401)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + 3600
        self.calls.append("grant")
        return web.json_response({"statusCode": "0000", "statusMessage": "Successful", "id_token": token,
                                  "token_type": "Bearer", "expires_in": 3600, "refresh_token": token})

    async def create(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        body = await request.json()
        if body.get("mode") != "0011" or body.get("intent") != "sale" or not body.get("callbackURL"):
            return web.json_response({"statusCode": "2006", "statusMessage": "Invalid request body"})
        pid = f"TR0011{next(_seq):06d}{secrets.token_hex(4).upper()}"
        self.payments[pid] = FakePayment(pid, str(body["amount"]), body.get("currency", "BDT"),
                                         body.get("merchantInvoiceNumber", ""), body.get("payerReference", ""),
                                         body["callbackURL"], self.mode)
        self.calls.append("create")
        cb = body["callbackURL"]
        return web.json_response({
            "statusCode": "0000", "statusMessage": "Successful", "paymentID": pid,
            "bkashURL": f"{self.base_url}/checkout/{pid}", "callbackURL": cb,
            **{f"{k}CallbackURL": f"{cb}?{urlencode({'paymentID': pid, 'status': s})}"
               for k, s in (("success", "success"), ("failure", "failure"), ("cancelled", "cancel"))},
            "amount": body["amount"], "intent": "sale", "currency": body.get("currency", "BDT"),
            "paymentCreateTime": time.strftime("%Y-%m-%dT%H:%M:%S:000 GMT+0600"),
            "transactionStatus": "Initiated", "merchantInvoiceNumber": body.get("merchantInvoiceNumber")})

    def _answer(self, p: FakePayment) -> dict:
        amount = p.amount
        if p.mode == "amount_mismatch":
            amount = f"{float(p.amount) - 1:.2f}"
        answer = {"statusCode": "0000", "statusMessage": "Successful", "paymentID": p.payment_id,
                  "payerReference": p.payer, "customerMsisdn": "01770618575", "amount": amount,
                  "currency": p.currency, "intent": "sale", "merchantInvoiceNumber": p.invoice,
                  "transactionStatus": p.state}
        if p.trx_id:
            answer |= {"trxID": p.trx_id, "paymentExecuteTime": time.strftime("%Y-%m-%dT%H:%M:%S:000 GMT+0600")}
        return answer

    async def _payment(self, request: web.Request, name: str) -> FakePayment | web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        body = await request.json()
        self.calls.append(name)
        p = self.payments.get(body.get("paymentID") or body.get("paymentId") or "")
        if p is None:
            return web.json_response({"statusCode": "2023", "statusMessage": "Invalid Payment ID"})
        if p.mode == "timeout" and p.state != "Completed":
            await asyncio.sleep(self.stall)
        return p

    async def execute(self, request: web.Request) -> web.Response:
        p = await self._payment(request, "execute")
        if isinstance(p, web.Response):
            return p
        if p.state == "Completed":
            return web.json_response({"statusCode": "2062", "statusMessage": "The payment has already been completed"})
        if p.state != "Authorized":
            return web.json_response({"statusCode": "2056", "statusMessage": "Invalid Payment State"})
        p.state, p.trx_id = "Completed", f"BK{secrets.token_hex(4).upper()}"
        return web.json_response(self._answer(p))

    async def status(self, request: web.Request) -> web.Response:
        p = await self._payment(request, "status")
        if isinstance(p, web.Response):
            return p
        answer = self._answer(p)
        if p.state == "Authorized":  # bKash shows a payment awaiting execute as Initiated
            answer["transactionStatus"] = "Initiated"
        return web.json_response(answer)

    async def refund(self, request: web.Request) -> web.Response:
        p = await self._payment(request, "refund")
        if isinstance(p, web.Response):
            return p
        body = await request.json()
        already = sum(float(r["amount"]) for r in p.refunds)
        if p.state != "Completed" or body.get("trxID") != p.trx_id:
            return web.json_response({"statusCode": "2069", "statusMessage": "Invalid transaction"})
        if float(body.get("amount", 0)) <= 0 or already + float(body["amount"]) > float(p.amount) + 1e-9:
            return web.json_response({"statusCode": "2071", "statusMessage": "Refund amount exceeds the payment"})
        refund = {"refundTrxID": f"RF{secrets.token_hex(4).upper()}", "amount": body["amount"]}
        p.refunds.append(refund)
        return web.json_response({"statusCode": "0000", "statusMessage": "Successful", "transactionStatus": "Completed",
                                  "originalTrxID": p.trx_id, "currency": p.currency, "charge": "0.00",
                                  "completedTime": time.strftime("%Y-%m-%dT%H:%M:%S:000 GMT+0600"), **refund})

    # --- the customer's page ----------------------------------------------------------------------------------
    async def checkout(self, request: web.Request) -> web.Response:
        p = self.payments.get(request.match_info["payment_id"])
        if p is None:
            return web.Response(status=404, text="no such payment")
        if request.query.get("mode") in MODES:
            p.mode = request.query["mode"]
        page = (f"<!doctype html><html><head><meta charset='utf-8'><title>bKash (local fake)</title></head><body>"
                f"<h1>bKash payment (local test gateway)</h1><p>Merchant invoice {html.escape(p.invoice)}</p>"
                f"<p id='amount'>Amount: ৳{html.escape(p.amount)}</p>"
                f"<form method='post' action='/checkout/{p.payment_id}/pay'><button id='pay'>Pay</button></form>"
                f"<form method='post' action='/checkout/{p.payment_id}/cancel'><button id='cancel'>Cancel</button>"
                f"</form></body></html>")
        return web.Response(text=page, content_type="text/html")

    def _callback_url(self, p: FakePayment, status: str) -> str:
        return f"{p.callback}{'&' if '?' in p.callback else '?'}" + urlencode(
            {"paymentID": p.payment_id, "status": status, "signature": secrets.token_hex(8), "apiVersion": "1.2.0-beta"})

    def _later(self, delay: float, url: str, times: int = 1) -> None:
        async def call():
            await asyncio.sleep(delay)
            async with ClientSession() as s:
                for _ in range(times):
                    try:
                        async with s.get(url, allow_redirects=False) as resp:
                            await resp.read()
                    except Exception:  # noqa: BLE001 - a fake gateway's callback may fail like a real one's
                        pass
        task = asyncio.get_running_loop().create_task(call())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def press(self, request: web.Request) -> web.Response:
        p = self.payments.get(request.match_info["payment_id"])
        if p is None or p.state not in ("Initiated", "Authorized"):
            return web.Response(status=404, text="no such payment")
        if request.match_info["action"] == "cancel":
            p.state = "Cancelled"
            raise web.HTTPSeeOther(self._callback_url(p, "cancel"))
        if p.mode in ("cancel", "failure"):
            p.state = "Cancelled" if p.mode == "cancel" else "Failed"
            raise web.HTTPSeeOther(self._callback_url(p, p.mode))
        if p.mode != "forged":
            p.state = "Authorized"
        url = self._callback_url(p, "success")
        if p.mode == "duplicate":
            self._later(0, url, times=2)
        if p.mode in ("late", "never"):
            if p.mode == "late":
                self._later(self.late, url)
            return web.Response(text="<p id='done'>Payment received by bKash. You may close this page.</p>",
                                content_type="text/html")
        raise web.HTTPSeeOther(url)

    async def set_mode(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("mode") not in MODES:
            return web.json_response({"error": f"mode must be one of {', '.join(MODES)}"}, status=400)
        self.mode = body["mode"]
        return web.json_response({"mode": self.mode})

    def app(self) -> web.Application:
        app = web.Application()
        t = "/tokenized/checkout"
        app.router.add_post(f"{t}/token/grant", self.grant)
        app.router.add_post(f"{t}/token/refresh", self.grant)
        app.router.add_post(f"{t}/create", self.create)
        app.router.add_post(f"{t}/execute", self.execute)
        app.router.add_post(f"{t}/payment/status", self.status)
        app.router.add_post(f"{t}/payment/refund", self.refund)
        app.router.add_get("/checkout/{payment_id}", self.checkout)
        app.router.add_post("/checkout/{payment_id}/{action:pay|cancel}", self.press)
        app.router.add_post("/_fake/mode", self.set_mode)
        return app


async def start_fake(port: int = 0, **kwargs) -> tuple[FakeBkash, web.AppRunner]:
    """Serve a FakeBkash on 127.0.0.1 (port 0: any free one); fake.base_url is its API root."""
    fake = FakeBkash(**kwargs)
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    fake.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    return fake, runner


def main() -> None:
    parser = argparse.ArgumentParser(description="local fake bKash Tokenized Checkout (loopback only)")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--app-key")
    parser.add_argument("--app-secret")
    parser.add_argument("--credentials-file", help="JSON with username, password, app_key, app_secret")
    args = parser.parse_args()
    given = {"username": args.username, "password": args.password, "app_key": args.app_key,
             "app_secret": args.app_secret}
    if args.credentials_file:
        with open(args.credentials_file) as f:
            given = json.load(f)

    async def serve():
        fake, _ = await start_fake(args.port, credentials=given if all(given.values()) else None)
        print(f"fake bKash at {fake.base_url}", flush=True)
        for k, v in fake.credentials.items():
            print(f"  {k}: {v}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
