"""The payment CSV streams from a server-side cursor in chunks: every matching payment, newest first, no cap."""

import csv
import io
from datetime import UTC, datetime, timedelta

from radbill.services import reports
from tests.billing_admin.test_reports import _pay


async def test_payment_csv_streams_every_payment_in_chunks_with_the_usual_headers(make_client, tree, fresh_db_url,
                                                                                  monkeypatch):
    start = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    for n in range(7):
        await _pay(fresh_db_url, tree, "a1" if n % 2 else "a2", 1000 + n, start + timedelta(hours=n))
    # the old export read at most EXPORT_LIMIT rows into a list and dropped the rest without a word
    monkeypatch.setattr(reports, "EXPORT_LIMIT", 2)
    monkeypatch.setattr(reports, "EXPORT_BATCH", 3)  # 7 rows: chunks of 3, 3 and 1
    c = await make_client("opa")

    response = await c.get("/payments.csv?from=2024-03-01")
    assert response.status == 200 and response.content_type == "text/csv"
    assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="payments-')
    body = (await response.read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["amount"] for r in rows] == [f"{(1000 + n) / 100:.2f}" for n in reversed(range(7))]
    assert {r["username"] for r in rows} == {"cust-a1", "cust-a2"}
    assert body.count("payment_id") == 1

    assert (await c.get("/payments.csv?from=10/03/2024")).status == 400  # a bad filter is refused before streaming
