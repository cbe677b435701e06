"""Local stand-ins for services outside radbill, speaking their real protocols on loopback: for tests and for the
demo `radbill run` starts (the payment gateways' are in radbill.payments.fakes)."""
