"""One error hierarchy; each edge maps it once (HTTP status, RLM code, CLI exit)."""


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
