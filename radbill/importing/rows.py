"""Turning mapped rows into Add Customer forms and checking them with the form's own rules (pure)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from radbill import validate
from radbill.billing.money import parse_amount
from radbill.customer_forms import parse_form
from radbill.errors import RadbillError
from radbill.i18n import _
from radbill.importing.files import Table
from radbill.importing.mapping import FIELD_BY_KEY
from radbill.spreadsheet import neutralise

# the form field each name-valued column resolves into, and where its per-value map lives in `defaults`
LOOKUPS = {"package": ("package_id", "package_map"), "billing_profile": ("billing_profile_id", "profile_map"),
           "zone": ("zone_id", "zone_map"), "ip_pool": ("static_pool", "pool_map")}
CONNECTION_WORDS = {"pppoe": "pppoe", "ppp": "pppoe", "ppoe": "pppoe", "pppoe user": "pppoe", "any": "pppoe",
                    "hotspot": "hotspot", "hs": "hotspot", "static": "static", "static ip": "static",
                    "ip": "static", "other": "other"}
# error keys (the form's fields) -> the column label users recognise in the review
ERROR_LABELS = {"package_id": "Package", "billing_profile_id": "Billing profile", "zone_id": "Zone",
                "static_pool": "IP pool",
                "_row": "Row", "_duplicate": "Duplicate"} | {f.key: f.label for f in FIELD_BY_KEY.values()}


def _word(text: str) -> str:
    """'  Static-IP ' -> 'static ip': how a typed value is compared (case, spacing and punctuation ignored)."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", str(text).lower()).split())


@dataclass
class Catalog:
    """What a customer of this operator may be given, as (id, name) pairs from the catalog readers."""

    packages: list[tuple[int, str]] = field(default_factory=list)
    profiles: list[tuple[int, str]] = field(default_factory=list)
    zones: list[tuple[int, str]] = field(default_factory=list)
    pools: list[tuple[int, str]] = field(default_factory=list)

    def options(self, lookup: str) -> list[tuple[int, str]]:
        return {"package": self.packages, "billing_profile": self.profiles, "zone": self.zones,
                "ip_pool": self.pools}[lookup]

    def find(self, lookup: str, value: str) -> int | None:
        """An id by name (case and spacing ignored), or by the id itself."""
        wanted = _word(value)
        for ident, name in self.options(lookup):
            if _word(name) == wanted or value.strip() == str(ident):
                return ident
        return None


@dataclass
class RowResult:
    """One data row after checking: status 'new', 'error' or 'duplicate'; errors keyed by form field."""

    line: int
    status: str
    form: dict
    errors: dict
    cells: list[str]


@dataclass
class Review:
    rows: list[RowResult]

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def valid(self) -> list[RowResult]:
        return [r for r in self.rows if r.status == "new"]


def distinct_values(table: Table, mapping: dict[int, str], key: str, limit: int = 100) -> list[str]:
    """The different values in the column mapped to `key` (e.g. every PPP profile name), first seen first."""
    column = next((i for i, k in mapping.items() if k == key), None)
    if column is None:
        return []
    seen: dict[str, None] = {}
    for row in table.rows:
        if row[column] and len(seen) < limit:
            seen.setdefault(row[column], None)
    return list(seen)


def propose_value_map(values: list[str], catalog: Catalog, lookup: str) -> dict[str, str]:
    """Each value -> the id of the item with the same name ('' when none is named so)."""
    return {v: str(catalog.find(lookup, v) or "") for v in values}


def mapping_from_form(form, width: int) -> tuple[dict[int, str], dict]:
    """The mapping page's fields -> (column index -> field key, defaults incl. per-value maps)."""
    mapping = {}
    for i in range(width):
        key = str(form.get(f"col_{i}", "") or "")
        if key in FIELD_BY_KEY:
            mapping[i] = key
    defaults: dict = {}
    for key in ("package_id", "billing_profile_id", "zone_id", "connection_type"):
        value = str(form.get(f"default_{key}", "") or "").strip()
        if value:
            defaults[key] = value
    for _lookup, (_form_key, map_key) in LOOKUPS.items():
        values = {}
        for n in range(500):
            source = form.get(f"{map_key}_value_{n}")
            if source is None:
                break
            chosen = str(form.get(f"{map_key}_{n}", "") or "").strip()
            if chosen.isascii() and chosen.isdecimal():
                values[str(source)] = chosen
        if values:
            defaults[map_key] = values
    return mapping, defaults


def row_form(cells: list[str], mapping: dict[int, str], defaults: dict, catalog: Catalog) -> tuple[dict, dict]:
    """The Add Customer form this row fills in, and the errors found while resolving names to ids."""
    raw = {key: cells[i] for i, key in mapping.items() if i < len(cells)}
    form, errors = {}, {}
    for key, value in raw.items():
        if key not in LOOKUPS:
            form[key] = value
    for lookup, (form_key, map_key) in LOOKUPS.items():
        value = raw.get(lookup, "").strip()
        if not value:
            form[form_key] = str(defaults.get(form_key) or "")
            continue
        chosen = (defaults.get(map_key) or {}).get(value) or catalog.find(lookup, value)
        if chosen:
            form[form_key] = str(chosen)
        else:
            form[form_key] = ""
            label = FIELD_BY_KEY[lookup].label
            label = label if label[:2].isupper() else label.lower()  # "zone", "billing profile", but "IP pool"
            errors[form_key] = _("No %(label)s named “%(value)s” is available to you: map it, or add it first.",
                                 label=label, value=value)
    connection = _word(raw.get("connection_type", ""))
    form["connection_type"] = (CONNECTION_WORDS.get(connection, connection) if connection
                               else defaults.get("connection_type") or "pppoe")
    if form["connection_type"] == "pppoe" and (raw.get("static_ip", "").strip() or raw.get("ip_pool", "").strip()):
        form["connection_type"] = "static"  # a PPPoE secret with a fixed remote-address is a static-IP customer
    return form, errors


def _price_error(text: str, currency: str) -> str | None:
    if not str(text).strip():
        return None
    try:
        parse_amount(str(text).strip(), currency)
    except (ValueError, RadbillError) as exc:
        return str(exc)
    return None


def _mobile_key(value: str) -> str | None:
    try:
        return validate.mobile(value) if value.strip() else None
    except ValueError:
        return None


def check_rows(table: Table, mapping: dict[int, str], defaults: dict, catalog: Catalog, currency: str,
               existing_usernames: set[str], existing_mobiles: set[str]) -> Review:
    """Every row through the Add Customer form's rules; duplicates are against the database and earlier rows."""
    usernames = {u.lower() for u in existing_usernames}
    mobiles = set(existing_mobiles)
    results = []
    for line, cells in zip(table.lines, table.rows, strict=True):
        form, errors = row_form(cells, mapping, defaults, catalog)
        price_error = _price_error(form.get("custom_price", ""), currency)
        if price_error:  # parse_form lets parse_amount's ValidationError escape; keep it a per-field error
            errors["custom_price"] = price_error
        parsed = parse_form({**form, "custom_price": ""} if price_error else form, currency, creating=True)
        errors = {**parsed.errors, **errors}
        if line in table.ragged:
            errors["_row"] = _("This row has %(count)s more value(s) than the header has columns: a value "
                               "probably contains an unquoted comma or semicolon.", count=table.ragged[line])
        username = (parsed.values.get("username") or "").lower()
        mobile = _mobile_key(form.get("mobile", ""))
        duplicate = None
        if username and username in usernames:
            duplicate = _("The username %(username)s already exists.", username=parsed.values["username"])
        elif mobile and mobile in mobiles:
            duplicate = _("A customer with mobile %(mobile)s already exists.", mobile=mobile)
        if username:
            usernames.add(username)
        if mobile:
            mobiles.add(mobile)
        if errors:
            status = "error"
        elif duplicate:
            status, errors = "duplicate", {"_duplicate": duplicate}
        else:
            status = "new"
        results.append(RowResult(line, status, form, errors, cells))
    return Review(results)


def problem_text(errors: dict) -> str:
    return "; ".join(f"{ERROR_LABELS.get(k, k)}: {v}" for k, v in errors.items())


def problem_rows_csv(table: Table, review: Review) -> bytes:
    """The rows that were not imported, with the original columns and a 'Problems' column; UTF-8 with BOM."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*table.headers, "Problems"])
    for r in review.rows:
        if r.status != "new":
            writer.writerow([neutralise(cell) for cell in [*r.cells, problem_text(r.errors)]])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
