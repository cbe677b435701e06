"""One bound on every money input, digits of one script, and pages that render whatever the stored values."""

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radbill.billing.money import MAX_MAJOR, max_minor, parse_amount
from radbill.errors import ValidationError
from radbill.validate import positive_int
from tests.support.billing import form_key
from tests.support.db import connect

BIGINT_MAX = 2**63 - 1


@pytest.mark.parametrize("text, minor", [("১,২৩৪.৫০", 123450), ("৫০০", 50000), ("1,000,000,000.00", 10**11)])
def test_bengali_digits_and_the_bound_itself_are_accepted(text, minor):
    assert parse_amount(text) == minor


@pytest.mark.parametrize("text, says", [("١٢٣", "digits 0-9"), ("１２３", "digits 0-9"), ("१२३", "digits 0-9"),
                                        ("۱۲۳", "digits 0-9"), ("1,000,000,000.01", "at most BDT 1,000,000,000.00"),
                                        ("92,233,720,368,547,758.07", "at most"), ("9" * 40, "at most")])
def test_foreign_digits_and_huge_amounts_get_a_sentence(text, says):
    with pytest.raises(ValidationError, match=says):
        parse_amount(text)


FOREIGN_DIGITS = [chr(c) for c in range(0x80, 0x10000) if unicodedata.category(chr(c)) == "Nd"
                  and not 0x09E6 <= c <= 0x09EF]  # every non-ASCII digit except Bengali's


@settings(max_examples=200)
@given(st.text("0123456789,.", max_size=8), st.sampled_from(FOREIGN_DIGITS), st.text("0123456789", max_size=4))
def test_any_other_scripts_digit_anywhere_is_refused(before, digit, after):
    with pytest.raises(ValidationError, match="digits 0-9"):
        parse_amount(before + digit + after)


def test_the_bound_follows_the_currency_and_whole_numbers_refuse_foreign_digits():
    assert max_minor("BDT") == MAX_MAJOR * 100 and max_minor("KWD") == MAX_MAJOR * 1000
    assert positive_int("১২") == 12
    with pytest.raises(ValueError, match="digits 0-9"):
        positive_int("١٢")


async def test_amounts_over_the_bound_are_refused_and_nothing_changes(make_client, tree, fresh_db_url):
    sub, customer = tree.ops["sub_a1"], tree.customers["a2"]
    c = await make_client("opa")
    statement = f"/resellers/{sub['id']}"
    for path, field in ((f"{statement}/credit-limit", "credit_limit"), (f"{statement}/top-up", "amount")):
        r = await c.post(path, {field: "92,233,720,368,547,758.07"}, token_from=statement)
        assert r.status == 422 and "at most BDT 1,000,000,000.00" in await r.text(), path
    collect = f"/customers/{customer['id']}/collect"
    for amount, says in (("92,233,720,368,547,758.07", "at most BDT 1,000,000,000.00"), ("١٠٠", "digits 0-9")):
        r = await c.post(collect, {"kind": "advance", "amount": amount, "idempotency_key": await form_key(c, collect)},
                         token_from=collect)
        assert r.status == 422 and says in await r.text()
    async with connect(fresh_db_url) as conn:
        row = await conn.fetchrow("SELECT balance_minor, credit_limit_minor FROM operators WHERE id = $1", sub["id"])
        assert (row["balance_minor"], row["credit_limit_minor"]) == (sub["balance_minor"], sub["credit_limit_minor"])
        assert await conn.fetchval("SELECT count(*) FROM payments") == 0
    r = await c.post(collect, {"kind": "advance", "amount": "১০০", "idempotency_key": await form_key(c, collect)},
                     token_from=collect)
    assert r.status == 303
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT amount_minor FROM payments") == 10000


async def test_pages_render_whatever_the_stored_values(make_client, tree, fresh_db_url):
    """Values no form accepts any more, put there by SQL: every page still renders and the limit can be lowered."""
    sub, customer = tree.ops["sub_a1"], tree.customers["a1"]
    async with connect(fresh_db_url) as conn:
        await conn.execute("UPDATE operators SET balance_minor = $2, credit_limit_minor = $2, sms_balance = $2"
                           " WHERE id = $1", sub["id"], BIGINT_MAX)
        await conn.execute("UPDATE customers SET custom_price_minor = $2 WHERE id = $1", customer["id"], BIGINT_MAX)
        payment = await conn.fetchval(
            "INSERT INTO payments (customer_id, operator_id, amount_minor, currency, method, received_at)"
            " VALUES ($1, $2, $3, 'BDT', 'cash', now()), ($1, $2, $3, 'BDT', 'cash', now()) RETURNING id",
            customer["id"], sub["id"], BIGINT_MAX)
    pages = {"opa": ["/resellers", f"/resellers/{sub['id']}", "/", "/payments", "/payments.csv", "/payments.xlsx",
                     f"/payments/{payment}", f"/customers/{customer['id']}", "/customers", "/sms/balance"],
             "suba1": ["/balance", "/", "/payments", "/sms/balance", f"/customers/{customer['id']}/collect"]}
    for login, paths in pages.items():
        c = await make_client(login)
        for path in paths:
            response = await c.get(path)
            assert response.status == 200, (login, path, response.status, (await response.text())[-600:])
    c = await make_client("opa")
    r = await c.post(f"/resellers/{sub['id']}/credit-limit", {"credit_limit": "250"},
                     token_from=f"/resellers/{sub['id']}")
    assert r.status == 303
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT credit_limit_minor FROM operators WHERE id = $1", sub["id"]) == 25000
