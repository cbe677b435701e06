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


class RepeatSuspected(ValidationError):
    """The action looks like one already done a moment ago (`first`: e.g. the same payment entered again after
    going Back); nothing was done. Send it again with the explicit confirmation to do it a second time."""

    def __init__(self, message: str, first, fields: dict[str, str] | None = None):
        super().__init__(message, fields or {"confirm_repeat": "needed"})
        self.first = first
