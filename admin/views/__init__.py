"""Admin pages; importing this package registers every route."""

from admin.views import (  # noqa: F401
    accounts,
    alerts,
    auth,
    billing,
    catalog,
    customers,
    dashboard,
    imports,
    language,
    payment_gateways,
    payment_refunds,
    planned,
    profile,
    routers,
    sections,
    sms,
    tickets,
    transfers,
    troubleshoot,
    walled_garden,
)
