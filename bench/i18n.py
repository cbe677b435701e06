"""What translation costs: loading the catalogs at start, one `{{ _("...") }}` in a template (baseline: a plain
`{{ x }}` in the same run), the admin's base layout in English and Bangla, and a receipt PDF in English and in
Bangla with a Bengali name (HarfBuzz shaping, Lohit Bengali). No database.

    .venv/bin/python -m bench.i18n --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from datetime import UTC, date, datetime

from admin.app import jinja_environment
from radbill import documents, i18n


class _Session:
    stage, full_name, username, operator_name, role = "full", "Rina", "rina", "Kshipra Net", "operator"
    permissions, timezone = frozenset(), "Asia/Dhaka"


class _Request:
    path = path_qs = "/"


def _receipt(name: str) -> dict:
    return {"payment": {"id": 7, "currency": "BDT", "received_at": datetime(2026, 11, 3, 5, tzinfo=UTC),
                        "method": "cash", "collector": "rina", "collector_name": "Rina", "amount_minor": 123450,
                        "note": None},
            "customer": {"id": 5, "name": name, "username": "rafiq", "mobile": "01711000000",
                         "address": "12 Lake Road", "timezone": "Asia/Dhaka"},
            "isp": {"business_name": "Kshipra Net", "name": "k", "address": None, "phone": None, "email": None},
            "lines": [{"bill_id": 3, "period_start": date(2026, 11, 1), "period_last": date(2026, 11, 30),
                       "applied_minor": 123450, "status": "paid"}], "advance_minor": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    started = time.perf_counter()
    catalogs = i18n.load_catalogs()
    print(f"load_catalogs: {(time.perf_counter() - started) * 1000:.0f} ms for {len(catalogs['bn'])} bn messages")

    env = jinja_environment()
    for label, source in (("{{ x }} (baseline)", "{% for i in range(100) %}{{ x }}{% endfor %}"),
                          ('{{ _("Save") }}', '{% for i in range(100) %}{{ _("Save") }}{% endfor %}')):
        template = env.from_string(source)
        with i18n.use_locale("bn"):
            best = min(timeit.repeat(lambda t=template: t.render(x="Save"), number=200, repeat=rounds))
        print(f"{label}: {best / 200 / 100 * 1e6:.1f} µs each")

    base = env.get_template("base.html")
    context = {"request": _Request, "session": _Session, "csrf_token": "t", "flashed": None, "scope": None}
    for locale in ("en", "bn"):
        with i18n.use_locale(locale, locale == "bn"):
            best = min(timeit.repeat(lambda: base.render(**context), number=500, repeat=rounds))
        print(f"base.html in {locale}: {best / 500 * 1e6:.0f} µs")

    for locale, name in (("en", "Mohammad Rafiqul Islam"), ("bn", "মোহাম্মদ রফিকুল ইসলাম")):
        times, size = [], 0
        with i18n.use_locale(locale):
            for _ in range(rounds * 3):
                started = time.perf_counter()
                size = len(documents.receipt_pdf(_receipt(name)))
                times.append((time.perf_counter() - started) * 1000)
        print(f"receipt PDF in {locale}: {statistics.median(times):.0f} ms median, {size / 1024:.1f} KB")


if __name__ == "__main__":
    main()
