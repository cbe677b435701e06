"""Local stand-ins for payment gateways (loopback HTTP servers speaking each gateway's API), for tests and demo."""
