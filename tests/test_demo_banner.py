"""The demo banner `make run` prints names the customer portal and how a demo customer logs in to it."""

from radbill.cli import format_demo


def test_the_banner_names_the_customer_portal():
    demo = {"logins": [], "customers": [{"state": "suspended", "username": "demo-suspended", "password": "pw"}],
            "nas": {"ip": "127.0.0.1", "secret": "s"}, "radius": {"host": "127.0.0.1", "auth_port": 1812,
                                                                 "acct_port": 1813},
            "portal": {"url": "http://127.0.0.1:8081"}}
    text = format_demo(demo)
    assert "Customer portal: http://127.0.0.1:8081" in text and "demo-suspended" in text
    del demo["portal"]
    assert "Customer portal" not in format_demo(demo)
