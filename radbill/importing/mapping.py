"""Which column holds which customer field: the template's columns, synonyms seen in real exports, proposals."""

from __future__ import annotations

import re
from dataclasses import dataclass

from radbill.i18n import _


@dataclass(frozen=True)
class Field:
    """A target of the mapping; `key` is the Add Customer form's field (names are resolved to ids later)."""

    key: str
    label: str  # the template's column heading, as on the Add Customer form
    required: bool = False
    defaultable: bool = False  # may take one value for every row when no column holds it
    synonyms: tuple[str, ...] = ()


# In the order of the Add Customer form; the template's columns are these labels.
FIELDS: tuple[Field, ...] = (
    Field("name", "Name", True, False, ("customer", "customer name", "full name", "client", "client name",
                                        "subscriber", "subscriber name", "nama", "naam")),
    Field("mobile", "Mobile", False, False, ("phone", "phone number", "mobile number", "mobile no", "cell",
                                             "cell phone", "contact", "contact no", "contact number", "msisdn",
                                             "telephone", "tel", "whatsapp", "mob")),
    Field("email", "Email", False, False, ("e-mail", "mail", "email address")),
    Field("address", "Address", False, False, ("location", "house", "full address", "street", "area address")),
    Field("national_id", "National ID", False, False, ("nid", "nid no", "nid number", "national id number",
                                                       "id card", "passport")),
    Field("zone", "Zone", False, True, ("area", "region", "zone name", "location zone", "pop", "box", "sector")),
    Field("username", "Username", True, False, ("user", "user name", "login", "user id", "userid", "pppoe",
                                                "pppoe user", "pppoe username", "pppoe id", "name on router",
                                                "customer id", "client id", "account")),
    # a MikroTik "Secret" column is the PPP secret's password (its login is the secret's "Name")
    Field("radius_password", "Password", False, False, ("pass", "pwd", "secret", "ppp secret", "secret password",
                                                        "pppoe password", "pppoe secret", "user password")),
    Field("connection_type", "Connection", False, True, ("connection type", "type", "service", "service type",
                                                         "conn type", "client type")),
    Field("static_ip", "Static IP", False, False, ("ip", "ip address", "remote address", "remote-address",
                                                   "framed ip", "fixed ip")),
    Field("package", "Package", True, True, ("speed", "profile", "plan", "package name", "bandwidth",
                                             "internet package", "pkg", "tariff", "ppp profile")),
    Field("billing_profile", "Billing profile", True, True, ("billing", "billing cycle", "cycle",
                                                             "billing type", "bill profile")),
    Field("mac_address", "MAC binding", False, False, ("mac", "mac address", "caller id", "caller-id",
                                                       "callerid", "device mac")),
    Field("custom_price", "Custom price", False, False, ("price", "monthly bill", "bill", "amount", "rate",
                                                         "monthly fee", "fee", "monthly charge", "charge")),
    Field("simultaneous_use", "Simultaneous sessions", False, False, ("sessions", "simultaneous use",
                                                                     "shared users", "max sessions")),
    # the next free address of one of radbill's IP pools, for a static customer without an address in the file
    # (last: files and scripts that build rows by column position keep working)
    Field("ip_pool", "IP pool", False, False, ("static pool", "static ip pool", "address pool")),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}
# a defaultable field -> the key its one-value-for-every-row default is kept under (the form's field)
DEFAULT_KEYS = {"package": "package_id", "billing_profile": "billing_profile_id", "zone": "zone_id",
                "connection_type": "connection_type"}


def normalise_header(text: str) -> str:
    """'Mobile No.' -> 'mobile no', 'PPPoE_User-Name' -> 'pppoe user name'."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(text).strip())
    return " ".join(re.sub(r"[^0-9a-z]+", " ", spaced.lower()).split())


def _names(f: Field) -> list[str]:
    return [normalise_header(n) for n in (f.key.replace("_", " "), f.label, *f.synonyms)]


def propose_mapping(headers: list[str]) -> dict[int, str]:
    """Column index -> field key, by exact name or synonym first, then by a contained word; each field once."""
    normalised = [normalise_header(h) for h in headers]
    proposal: dict[int, str] = {}
    taken: set[str] = set()
    for f in FIELDS:  # exact matches win over loose ones, in any column order
        for i, h in enumerate(normalised):
            if i not in proposal and f.key not in taken and h in _names(f):
                proposal[i] = f.key
                taken.add(f.key)
    for i, h in enumerate(normalised):  # then the longest name inside the header; the last word counts most
        if i in proposal or not h:
            continue
        best, best_score = None, 0
        for f in FIELDS:
            if f.key in taken:
                continue
            for n in _names(f):
                if len(n) < 3 or not re.search(rf"(^| ){re.escape(n)}( |$)", h):
                    continue
                score = len(n) + (100 if h.endswith(n) else 0)
                if score > best_score:
                    best, best_score = f.key, score
        if best:
            proposal[i] = best
            taken.add(best)
    return proposal


def check_mapping(mapping: dict[int, str], defaults: dict[str, str]) -> list[str]:
    """Sentences for required fields with neither a column nor a default, and for fields mapped twice."""
    problems = []
    mapped = list(mapping.values())
    for key in sorted({k for k in mapped if mapped.count(k) > 1}):
        problems.append(_("“%(label)s” is chosen for two columns; keep one.", label=FIELD_BY_KEY[key].label))
    for f in FIELDS:
        if f.required and f.key not in mapped and not defaults.get(DEFAULT_KEYS.get(f.key, f.key)):
            problems.append(_("Choose the column that holds “%(label)s” or choose one for every row.",
                              label=f.label)
                            if f.defaultable else _("Choose the column that holds “%(label)s”.", label=f.label))
    return problems


def column_samples(rows: list[list[str]], width: int, count: int = 3) -> list[list[str]]:
    """Per column, the first `count` different non-blank values in the file (blank leading rows say nothing)."""
    samples: list[list[str]] = [[] for _ in range(width)]
    for row in rows:
        for i, value in enumerate(row[:width]):
            value = str(value).strip()
            if value and len(samples[i]) < count and value not in samples[i]:
                samples[i].append(value)
        if all(len(s) >= count for s in samples):
            break
    return samples


def mapping_warnings(headers: list[str], mapping: dict[int, str]) -> list[str]:
    """Sentences for columns whose heading names a login but that are not imported: usernames are how the
    router knows a customer, so dropping such a column by mistake breaks every imported login."""
    warnings = []
    for i, header in enumerate(headers):
        # the proposal's own rule, asked of this heading alone: would it have been the username column?
        if i not in mapping and propose_mapping([header]) == {0: "username"}:
            warnings.append(_("The column “%(header)s” looks like it holds usernames but is not imported. "
                              "Choose “Username” for it, or leave it if another column holds the usernames.",
                              header=header))
    return warnings
