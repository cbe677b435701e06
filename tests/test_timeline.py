"""Audit entries read as sentences; every action the code records has one (read from the source itself)."""

import ast
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from radbill.services.catalog import _STATUS_UPDATES
from radbill.services.customers import VERBS
from radbill.timeline import OUTBOX_JOBS, SENTENCES, describe, sentences

ROOT = Path(__file__).resolve().parent.parent
# every f-string action in an audit.record( call, with the values it can take (a new f-string fails until added)
EXPANSIONS = {
    "customer.{VERBS[new_status]}": [f"customer.{v}" for v in VERBS.values()],
    "{kind}.{'retire' if status == 'retired' else 'reactivate'}": [
        f"{k}.{v}" for k in _STATUS_UPDATES for v in ("retire", "reactivate")],
    "account_{status}": ["account_active", "account_disabled"],
    "outbox.{row['kind']}": [f"outbox.{k}" for k in OUTBOX_JOBS],
    "login' if ok else 'login_failed": ["login", "login_failed"],
    "router.disable' if status == 'disabled' else 'router.enable": ["router.disable", "router.enable"],
    "payment.online' if capture else 'payment.cash": ["payment.online", "payment.cash"],
    "topup_pack.offer' if active else 'topup_pack.retire": ["topup_pack.offer", "topup_pack.retire"],
    "webhook.enable' if enabled else 'webhook.disable": ["webhook.enable", "webhook.disable"],
}


def recorded_actions() -> set[str]:
    """The action of every `audit.record(conn, scope, ACTION, ...)` call under radbill/ and admin/."""
    actions = set()
    for path in [*ROOT.joinpath("radbill").rglob("*.py"), *ROOT.joinpath("admin").rglob("*.py")]:
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "record"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "audit"):
                continue
            action = node.args[2]
            if isinstance(action, ast.Constant):
                actions.add(action.value)
                continue
            text = ast.get_source_segment(source, action).strip("f\"'")
            text = re.sub(r'"', "'", text)
            assert text in EXPANSIONS, f"{path}: audit action {text!r} is built at run time: list its values here"
            actions.update(EXPANSIONS[text])
    return actions


def test_every_recorded_action_has_a_sentence():
    actions = recorded_actions()
    assert len(actions) > 40 and "customer.suspend" in actions and "outbox.disconnect" in actions
    missing = sorted(a for a in actions if a not in SENTENCES)
    assert not missing, f"give these audit actions a sentence in radbill/timeline.py: {missing}"


def test_every_sentence_reads_without_json_even_with_an_empty_detail():
    for action in SENTENCES:
        text = describe(action, {}, "rina")
        assert text and "{" not in text and "None" not in text, (action, text)


def test_suspension_reads_with_reason_and_what_the_router_did():
    at = datetime(2026, 11, 20, 14, 54, 10, tzinfo=UTC)
    entries = [
        {"at": datetime(2026, 11, 20, 14, 54, 17, tzinfo=UTC), "action": "outbox.disconnect", "actor": None,
         "detail": json.dumps({"outbox_id": 9, "kind": "disconnect", "attempt": 1, "outcome": "ack",
                               "nas_ip": "10.0.0.1", "acct_session_id": "s1"})},
        {"at": at, "action": "customer.suspend", "actor": "rina",
         "detail": json.dumps({"status": ["active", "suspended"], "reason": "unpaid November bill",
                               "outbox_ids": [9]})},
    ]
    rows = sentences(entries, "Asia/Dhaka")
    assert rows[1]["sentence"] == ("Suspended by rina: unpaid November bill — Router 10.0.0.1 disconnected"
                                   " session s1 at 20:54:17.")
    assert rows[0]["sentence"] == "Router 10.0.0.1 disconnected session s1."


def test_failures_edits_prices_and_unknown_actions():
    failed = describe("outbox.disconnect", {"outcome": "timeout", "attempt": 5, "gave_up": True,
                                            "nas_ip": "10.0.0.1", "acct_session_id": "s1"}, None)
    assert failed == ("Could not disconnect session s1 on router 10.0.0.1 after 5 attempts (timeout);"
                      " radbill stopped trying.")
    assert describe("edit", {"mobile": ["+8801711111111", "+8801722222222"]}, "rina") == (
        "Details edited by rina: mobile from +8801711111111 to +8801722222222.")
    assert "by radbill (automatic)" in describe("customer.suspend", {"reason": "unpaid"}, None)
    assert describe("customer.set_custom_price", {"custom_price_minor": [None, 45050]}, "rina", "BDT") == (
        "Custom price set to BDT 450.50 by rina.")
    assert describe("something.new", {"count": 3}, "rina") == "Something new by rina (count: 3)."
