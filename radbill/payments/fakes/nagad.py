"""A fake Nagad (direct checkout) for tests and the demo, on loopback, with its own RSA key pair.

    python -m radbill.payments.fakes.nagad --port 8802 [--switch amount_mismatch ...]

Speaks what radbill.payments.nagad cites: initialize (checks the merchant's RSA signature and opens the
sensitiveData with the fake's private key), complete (checks the challenge it issued), a payment page (Pay /
Cancel) that sends the browser to merchantCallbackURL with Nagad's query string, and verify/payment. It prints the
demo credentials: merchant id, the merchant private key and the fake's public key (both PEM, demo only).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import html
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web
from Crypto.PublicKey import RSA

from radbill.payments.fakes import serve
from radbill.payments.fakes.nagad_keys import IMPOSTOR_PRIVATE_PEM, MERCHANT_PRIVATE_PEM, NAGAD_PRIVATE_PEM
from radbill.payments.nagad import seal_for, sign, signature_ok, unseal

DEMO_MERCHANT_ID = "683002007104225"
DEMO_MERCHANT_NUMBER = "01711428036"
API_ROOT = "/remote-payment-gateway-1.0/api/dfs"


_PEMS = {"merchant": MERCHANT_PRIVATE_PEM, "nagad": NAGAD_PRIVATE_PEM, "impostor": IMPOSTOR_PRIVATE_PEM}


@functools.cache
def key_pair(name: str) -> RSA.RsaKey:
    """The fixed demo key pair `name` ("merchant", "nagad", "impostor"): see nagad_keys."""
    return RSA.import_key(_PEMS[name])


@dataclass
class Switches:
    timeout: bool = False          # verify/payment holds the request past the client's deadline
    amount_mismatch: bool = False  # verify reports one taka less than the order
    wrong_key: bool = False        # answers are signed with a key that is not the fake's published one
    refuse: bool = False           # initialize answers an error


@dataclass
class Attempt:
    ref: str
    order_id: str
    challenge: str
    amount: str = ""
    callback_url: str = ""
    status: str = "OrderInitiated"
    issuer_ref: str = ""
    paid_at: str = ""


@dataclass
class FakeNagad:
    merchant_id: str = DEMO_MERCHANT_ID
    merchant_key: RSA.RsaKey = field(default_factory=lambda: key_pair("merchant"))
    switches: Switches = field(default_factory=Switches)
    hold_seconds: float = 5.0
    attempts: dict[str, Attempt] = field(default_factory=dict)  # paymentReferenceId -> attempt
    rejected: list[str] = field(default_factory=list)           # why requests were refused, in order

    def __post_init__(self):
        self.key = key_pair("nagad")
        self.url = ""
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._released = asyncio.Event()

    @property
    def api_url(self) -> str:
        return self.url + API_ROOT

    def credentials(self) -> dict[str, str]:
        """What an operator enters for this gateway (the demo merchant's keys)."""
        return {"merchant_id": self.merchant_id, "merchant_number": DEMO_MERCHANT_NUMBER,
                "merchant_private_key": self.merchant_key.export_key().decode(),
                "nagad_public_key": self.key.public_key().export_key().decode()}

    def gateway_settings(self) -> dict:
        """A payment_gateways row pointing at this fake (what `make run` gives the demo operator)."""
        return {"kind": "nagad", "mode": "sandbox", "base_url": self.api_url, "credentials": self.credentials()}

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeNagad:
        app = web.Application()
        app.router.add_post(API_ROOT + "/check-out/initialize/{merchant}/{order}", self._initialize)
        app.router.add_post(API_ROOT + "/check-out/complete/{ref}", self._complete)
        app.router.add_get(API_ROOT + "/check-out/page/{ref}", self._page)
        app.router.add_post(API_ROOT + "/check-out/page/{ref}", self._act)
        app.router.add_get(API_ROOT + "/verify/payment/{ref}", self._verify)
        self._runner, self.url = await serve(app, host, port)
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _refuse(self, status: int, reason: str, message: str) -> web.Response:
        self.rejected.append(reason)
        return web.json_response({"reason": reason, "message": message}, status=status)

    def _open(self, body: dict) -> dict | str:
        """The merchant's sensitiveData as a dict, or why it is refused."""
        plain = unseal(self.key, str(body.get("sensitiveData") or ""))
        if plain is None:
            return "sensitiveData is not encrypted with Nagad's public key"
        if not signature_ok(self.merchant_key.public_key(), plain, str(body.get("signature") or "")):
            return "signature does not verify with the merchant's public key"
        try:
            opened = json.loads(plain)
        except ValueError:
            return "sensitiveData is not JSON"
        return opened if isinstance(opened, dict) else "sensitiveData is not a JSON object"

    def _sealed_answer(self, payload: dict) -> dict:
        text = json.dumps(payload)
        signer = key_pair("impostor") if self.switches.wrong_key else self.key
        return {"sensitiveData": seal_for(self.merchant_key.public_key(), text), "signature": sign(signer, text)}

    async def _body(self, request: web.Request) -> dict | str:
        if not all(request.headers.get(h) for h in ("X-KM-Api-Version", "X-KM-IP-V4", "X-KM-Client-Type")):
            return "X-KM headers missing"
        try:
            body = await request.json()
        except ValueError:
            return "body is not JSON"
        return body if isinstance(body, dict) else "body is not a JSON object"

    async def _initialize(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, str):
            return self._refuse(400, "InvalidRequest", body)
        if self.switches.refuse:
            return self._refuse(400, "MerchantNotActive", "Merchant is not active (fake)")
        opened = self._open(body)
        if isinstance(opened, str):
            return self._refuse(401, "InvalidSignature", opened)
        merchant, order = request.match_info["merchant"], request.match_info["order"]
        if merchant != self.merchant_id or opened.get("merchantId") != merchant or opened.get("orderId") != order:
            return self._refuse(400, "InvalidMerchantOrOrder", "merchantId/orderId do not match the URL")
        if not re.fullmatch(r"\d{14}", str(opened.get("datetime") or "")) or not opened.get("challenge"):
            return self._refuse(400, "InvalidRequest", "datetime (YYYYMMDDHHMMSS) and challenge are required")
        if any(a.order_id == order for a in self.attempts.values()):
            return self._refuse(400, "DuplicateOrderId", "orderId already used")
        ref = f"MDEx{datetime.now(UTC):%y%m%d%H%M%S}{next(self._ids):06d}"
        attempt = Attempt(ref, order, secrets.token_hex(20))
        self.attempts[ref] = attempt
        return web.json_response(self._sealed_answer({"paymentReferenceId": ref, "challenge": attempt.challenge,
                                                      "acceptDateTime": datetime.now(UTC).strftime("%Y%m%d%H%M%S")}))

    async def _complete(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, str):
            return self._refuse(400, "InvalidRequest", body)
        attempt = self.attempts.get(request.match_info["ref"])
        if attempt is None:
            return self._refuse(404, "InvalidPaymentRefId", "paymentReferenceId not found")
        opened = self._open(body)
        if isinstance(opened, str):
            return self._refuse(401, "InvalidSignature", opened)
        if opened.get("challenge") != attempt.challenge or opened.get("orderId") != attempt.order_id:
            return self._refuse(400, "InvalidChallenge", "challenge or orderId does not match the initialize")
        if opened.get("currencyCode") != "050" or not re.fullmatch(r"\d+\.\d{2}", str(opened.get("amount") or "")):
            return self._refuse(400, "InvalidAmount", "amount must be like 500.00 in currency 050")
        if attempt.status != "OrderInitiated" or not body.get("merchantCallbackURL"):
            return self._refuse(400, "InvalidRequest", "order already completed or no merchantCallbackURL")
        attempt.amount, attempt.callback_url, attempt.status = opened["amount"], body["merchantCallbackURL"], "Ready"
        return web.json_response({"status": "Success", "callBackUrl": f"{self.api_url}/check-out/page/{attempt.ref}"})

    async def _page(self, request: web.Request) -> web.Response:
        attempt = self.attempts.get(request.match_info["ref"])
        if attempt is None or attempt.status != "Ready":
            return web.Response(status=404, text="Payment not found or already finished")
        body = (f"<!doctype html><title>Nagad (fake)</title><h1>Nagad sandbox (fake)</h1>"
                f"<p>Amount: <b id=amount>BDT {html.escape(attempt.amount)}</b></p><form method=post>"
                f"<button name=action value=pay>Pay</button> <button name=action value=cancel>Cancel</button></form>")
        return web.Response(text=body, content_type="text/html")

    async def _act(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            url = self.finish(request.match_info["ref"], str(form.get("action", "")))
        except KeyError:
            return web.Response(status=404, text="Payment not found or already finished")
        raise web.HTTPFound(url)

    def finish(self, ref: str, action: str) -> str:
        """The customer paid or cancelled: record it and return where Nagad sends the browser."""
        attempt = self.attempts[ref]
        if attempt.status != "Ready":
            raise KeyError(ref)
        attempt.paid_at = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        if action == "pay":
            attempt.status, attempt.issuer_ref = "Success", f"7{next(self._ids):09d}NGD"
        else:
            attempt.status = "Aborted"
        query = {"merchant": self.merchant_id, "order_id": attempt.order_id, "payment_ref_id": ref,
                 "status": attempt.status, "status_code": "00_0000_000" if action == "pay" else "02_0000_000",
                 "message": "Successful Transaction" if action == "pay" else "Aborted by the customer",
                 "payment_dt": attempt.paid_at, "issuer_payment_ref": attempt.issuer_ref}
        return f"{attempt.callback_url}?{urlencode(query)}"

    async def _verify(self, request: web.Request) -> web.Response:
        if self.switches.timeout:
            try:
                await asyncio.wait_for(self._released.wait(), self.hold_seconds)
            except TimeoutError:
                pass
        attempt = self.attempts.get(request.match_info["ref"])
        if attempt is None:
            return web.json_response({"reason": "InvalidPaymentRefId", "message": "Payment not found"}, status=404)
        amount = attempt.amount
        if self.switches.amount_mismatch and amount:
            amount = f"{int(amount.split('.')[0]) - 1}.{amount.split('.')[1]}"
        return web.json_response({
            "merchantId": self.merchant_id, "orderId": attempt.order_id, "paymentRefId": attempt.ref,
            "amount": amount, "clientMobileNo": "017****4567", "merchantMobileNo": DEMO_MERCHANT_NUMBER,
            "orderDateTime": attempt.paid_at, "issuerPaymentDateTime": attempt.paid_at,
            "issuerPaymentRefNo": attempt.issuer_ref, "additionalMerchantInfo": None, "status": attempt.status,
            "statusCode": "000" if attempt.status == "Success" else "001"})


def main(argv: list[str] | None = None) -> None:
    names = [f.name for f in fields(Switches)]
    parser = argparse.ArgumentParser(description="A fake Nagad on 127.0.0.1 (demo credentials).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--switch", action="append", default=[], choices=names, help="misbehave on purpose")
    args = parser.parse_args(argv)

    async def run() -> None:
        fake = FakeNagad(switches=Switches(**{name: True for name in args.switch}))
        await fake.start(port=args.port)
        print(f"fake Nagad at {fake.api_url} merchant_id={fake.merchant_id}", flush=True)
        print(json.dumps(fake.credentials()), flush=True)
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
