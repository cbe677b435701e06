"""Admin pages; importing this package registers every route."""

from admin.views import (  # noqa: F401
    accounts,
    auth,
    billing,
    cash_close,
    catalog,
    corrections,
    customers,
    dashboard,
    imports,
    planned,
    profile,
    routers,
    sections,
    sms,
    troubleshoot,
)
