"""One error hierarchy; each edge maps it once (HTTP status, RLM code, CLI exit)."""

from contextlib import contextmanager

from radbill.i18n import _, lazy_gettext


class RadbillError(Exception):
    """Base of every error radbill raises on purpose; the message is a sentence a user can act on."""


class ConfigError(RadbillError):
    """A setting is missing or malformed; the message names the environment variable."""


class MigrationError(RadbillError):
    """The database schema cannot be brought to the committed migrations."""


class NotFound(RadbillError):
    """The object does not exist or is outside the caller's scope (the two are indistinguishable)."""


class PermissionDenied(RadbillError):
    """The caller's role may not perform this action; `reason` says why."""

    def __init__(self, message: str, reason: str = "role"):
        super().__init__(message)
        self.reason = reason


class ValidationError(RadbillError):
    """Input failed validation; `fields` maps a field name to what is wrong with it."""

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.fields = fields or {}


class RepeatSuspected(ValidationError):
    """The action looks like one already done a moment ago (`first`: e.g. the same payment entered again after
    going Back); nothing was done. Send it again with the explicit confirmation to do it a second time."""

    def __init__(self, message: str, first, fields: dict[str, str] | None = None):
        super().__init__(message, fields or {"confirm_repeat": "needed"})
        self.first = first


# ---- database refusals -> ValidationError ----------------------------------------------------------------
# The database is the last word on what may be stored (CHECK, NOT NULL, UNIQUE, foreign keys, column types).
# When a value reaches it unchecked, the edge maps the refusal here, once, to a sentence naming the field.
# Matched on SQLSTATE (asyncpg exceptions carry `sqlstate`, `constraint_name`, `column_name`, `table_name`),
# so this module imports no driver.

# constraints whose names do not follow Postgres's <table>_<column>_<kind> default
CONSTRAINT_FIELDS = {"operators_credit_limit": "credit_limit", "operators_root_has_no_parent": "parent_id"}
_SUFFIXES = ("_check", "_key", "_fkey", "_excl")
_SENTENCES = {  # lazy: translated when the refusal happens, in the caller's language
    "23514": lazy_gettext("%(label)s: this value is not allowed (too long, empty or in the wrong form). "
                          "Correct it and try again."),
    "23502": lazy_gettext("%(label)s is required. Fill it in and try again."),
    "23505": lazy_gettext("%(label)s: this value is already in use. Choose another one."),
    "23503": lazy_gettext("%(label)s: the chosen item does not exist any more. Reload the page and choose again."),
    "23P01": lazy_gettext("%(label)s: this overlaps with an existing entry. Choose another value."),
    "22001": lazy_gettext("%(label)s: the value is too long. Shorten it and try again."),
    "22003": lazy_gettext("%(label)s: the number is too large. Enter a smaller one."),
    "54000": lazy_gettext("%(label)s: the value is too long. Shorten it and try again."),
}
_GENERIC = lazy_gettext("%(label)s: the value cannot be stored (wrong form or characters). Correct it and try again.")


def constraint_field(constraint: str | None, table: str | None = None, column: str | None = None) -> str:
    """The form field a database constraint is about: 'customers_name_check' -> 'name' ('' when unknown)."""
    if column:
        return column
    if not constraint:
        return ""
    if constraint in CONSTRAINT_FIELDS:
        return CONSTRAINT_FIELDS[constraint]
    name = constraint
    if table and name.startswith(table + "_"):
        name = name[len(table) + 1:]
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return ""  # a table-level CHECK (e.g. bills_check1): no single field to name


def validation_error_from_database(exc: Exception) -> ValidationError | None:
    """A ValidationError naming the field for a database refusal of the input (integrity or data error);
    None for anything else (a bug, a lost connection: those stay 500s)."""
    state = getattr(exc, "sqlstate", None) or ""
    if not (state.startswith(("22", "23")) or state == "54000"):
        return None
    field = constraint_field(getattr(exc, "constraint_name", None), getattr(exc, "table_name", None),
                             getattr(exc, "column_name", None))
    # the label is the field's own name (English); the sentence around it is translated
    label = field.replace("_minor", "").replace("_", " ").capitalize() if field else _("A value")
    message = str(_SENTENCES.get(state, _GENERIC)) % {"label": label}
    return ValidationError(message, {field or "form": message})


@contextmanager
def database_refusals():
    """Around a service's write: a database refusal of the input leaves as the ValidationError naming its field
    (so the form shows it next to the field); anything else passes through untouched."""
    try:
        yield
    except Exception as exc:
        refusal = validation_error_from_database(exc)
        if refusal is None:
            raise
        raise refusal from exc
