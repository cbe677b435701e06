"""Admin pages; importing this package registers every route."""

from admin.views import accounts, auth, dashboard, profile, sections  # noqa: F401
