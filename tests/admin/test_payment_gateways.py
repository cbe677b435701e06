"""Payment gateway accounts in the admin: add and edit with write-only, sealed credentials; defaults per kind and
mode; sub-operators and managers without the payments permission are refused."""

from __future__ import annotations

import json

import asyncpg

from radbill import secretbox
from radbill.services.payment_gateways import credentials_of

BKASH = {"kind": "bkash", "label": "bKash merchant", "mode": "sandbox", "base_url": "", "fee_percent": "1.85",
         "enabled": "on", "cred_bkash_username": "sandboxTokenizedUser02", "cred_bkash_password": "S3cr3t-PW!",
         "cred_bkash_app_key": "APPKEY-4f6o0cjiki2rfm34kfdadl1eqq", "cred_bkash_app_secret": "APPSECRET-2is7hdktrekvrbljjh44ll3d9l1dtjo4pasmjvs5vl5qr3fug4b"}
SECRETS = ("S3cr3t-PW!", "APPKEY-4f6o0cjiki2rfm34kfdadl1eqq", "APPSECRET-2is7hdktrekvrbljjh44ll3d9l1dtjo4pasmjvs5vl5qr3fug4b")


async def stored(url: str):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch("SELECT * FROM payment_gateways ORDER BY id")
    finally:
        await conn.close()


async def test_add_seals_credentials_and_never_shows_them_again(make_client, fresh_db_url):
    opa = await make_client("opa")
    missing = await opa.post("/payment-gateways/new", {**BKASH, "cred_bkash_app_secret": ""})
    page = await missing.text()
    assert missing.status == 422 and "Enter the App secret" in page
    assert not any(s in page for s in SECRETS)  # a failed save echoes no credential
    assert (await opa.post("/payment-gateways/new", BKASH)).status == 303
    (row,) = await stored(fresh_db_url)
    assert (row["base_url"], row["fee_basis_points"], row["mode"]) == (
        "https://tokenized.sandbox.bka.sh/v1.2.0-beta", 185, "sandbox")
    assert secretbox.is_sealed(row["credentials_sealed"]) and not any(s in row["credentials_sealed"] for s in SECRETS)
    assert credentials_of(row["id"], row["credentials_sealed"])["app_secret"] == SECRETS[2]
    for path in ("/payment-gateways", f"/payment-gateways/{row['id']}/edit"):
        text = await (await opa.get(path)).text()
        assert "bKash merchant" in text and not any(s in text for s in SECRETS), path


async def test_edit_keeps_empty_credentials_and_a_new_kind_needs_all(make_client, fresh_db_url):
    opa = await make_client("opa")
    await opa.post("/payment-gateways/new", BKASH)
    (row,) = await stored(fresh_db_url)
    edit = f"/payment-gateways/{row['id']}/edit"
    keep = {k: v for k, v in BKASH.items() if not k.startswith("cred_")}
    response = await opa.post(edit, {**keep, "mode": "live", "cred_bkash_password": "new-pw"})
    assert response.status == 303
    (row,) = await stored(fresh_db_url)
    creds = credentials_of(row["id"], row["credentials_sealed"])
    assert creds["password"] == "new-pw" and creds["app_key"] == SECRETS[1]  # one replaced, the others kept
    assert row["base_url"] == "https://tokenized.pay.bka.sh/v1.2.0-beta"  # the live default
    switched = await opa.post(edit, {**keep, "kind": "sslcommerz"})
    assert switched.status == 422 and "Store ID" in await switched.text()
    ok = await opa.post(edit, {**keep, "kind": "sslcommerz", "cred_sslcommerz_store_id": "test6xyz",
                               "cred_sslcommerz_store_passwd": "test6xyz@ssl", "base_url": "http://127.0.0.1:9/"})
    assert ok.status == 303
    (row,) = await stored(fresh_db_url)
    assert json.dumps(credentials_of(row["id"], row["credentials_sealed"]), sort_keys=True) == json.dumps(
        {"store_id": "test6xyz", "store_passwd": "test6xyz@ssl"}, sort_keys=True)
    assert row["base_url"] == "http://127.0.0.1:9"


async def test_bad_input_is_a_form_error(make_client, fresh_db_url):
    opa = await make_client("opa")
    for field, value in (("fee_percent", "abc"), ("fee_percent", "101"), ("base_url", "javascript:alert(1)"),
                         ("kind", "paypal"), ("mode", "prod"), ("label", "")):
        response = await opa.post("/payment-gateways/new", {**BKASH, field: value})
        assert response.status == 422, (field, value)
    assert (await opa.post("/payment-gateways/new", BKASH)).status == 303
    duplicate = await opa.post("/payment-gateways/new", BKASH)
    assert duplicate.status == 422 and "already have a gateway with this name" in await duplicate.text()
    assert len(await stored(fresh_db_url)) == 1


async def test_sub_operators_and_managers_without_the_permission_are_refused(make_client, fresh_db_url):
    sub = await make_client("suba1")
    for path in ("/payment-gateways", "/payment-gateways/new"):
        response = await sub.get(path)
        assert response.status == 403 and "Ask your parent operator" in await response.text()
    assert (await sub.post("/payment-gateways/new", BKASH)).status == 403
    assert (await (await make_client("mgr_all")).get("/payment-gateways")).status == 403
    assert not await stored(fresh_db_url)
