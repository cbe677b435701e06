"""The local WhatsApp Business Cloud API the tests use: the product's own stand-in (radbill.fakes.whatsapp_cloud),
the same server `radbill run` starts for the demo."""

from radbill.fakes.whatsapp_cloud import CloudApi, Sent

__all__ = ["CloudApi", "Sent"]
