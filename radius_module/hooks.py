"""The functions rlm_python3 calls. Each is small: read attributes, ask radbill.policy, answer.

Nothing here waits on the network: decisions come from the in-memory snapshot, and outbox rows are queued for
the worker thread. Only authorize is called per packet: the post-auth log is written by FreeRADIUS's linelog
(spool.py), and accounting goes to radacct_journal through rlm_sql or through linelog's accounting spool
(acct_spool.py); the worker folds that journal into radacct and hands what it folded to apply_accounting. Any
exception in authorize becomes a reject.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict

from radbill import clock
from radbill.policy import Request, Settings, decide
from radbill.policy.caps import speeds_for, tier_for
from radbill.policy.decide import MESSAGES
from radbill.policy.model import Decision
from radbill.policy.vendors import DEFAULT_TYPE
from radius_module import handover, rlm
from radius_module.acct_spool import AcctSpool
from radius_module.attrs import request_values, to_tuples
from radius_module.sessions import OpenSessions, Session, policy_inputs, stale_after
from radius_module.snapshot import PolicySnapshot
from radius_module.spool import Spool
from radius_module.worker import Worker

log = logging.getLogger("radbill.radius")

# Radbill-Nas-Type: the asking client's nas_type (sites/radbill copies it from the clients file, which is written
# from the nas table): the router type comes with the packet, keyed by its source address, with no lookup here
AUTHORIZE_ATTRIBUTES = frozenset({"User-Name", "Calling-Station-Id", "NAS-IP-Address", "Radbill-Nas-Type"})


class State:
    snapshot = PolicySnapshot()
    sessions = OpenSessions(stale_after(300))
    settings = Settings()
    worker: Worker | None = None


def instantiate(_p=None):
    """Start the worker (it loads the snapshot); wait briefly so the first requests find it loaded.

    Only a negative return fails instantiation in rlm_python3 3.2.1 (an exception or FAIL is ignored).
    """
    try:
        return _instantiate()
    except Exception:
        log.exception("radbill instantiate failed")
        return -1


def _instantiate() -> int:
    rlm.install_log_handler()
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        log.error("DATABASE_URL is not set in FreeRADIUS's environment: radbill cannot load any customer")
        return -1
    interim = int(os.environ.get("RADBILL_ACCT_INTERIM_INTERVAL", "300"))
    State.settings = Settings(acct_interim_interval=interim)
    State.sessions.stale_after = stale_after(interim)
    if rlm.config_check_only():
        # `freeradius -C` never calls detach; a live thread there crashes the exit (seen in 5 of 20 runs)
        return rlm.OK
    spool_path = os.environ.get("RADBILL_POSTAUTH_SPOOL", "").strip()
    acct_spool = os.environ.get("RADBILL_ACCT_SPOOL", "").strip()
    spooled = os.environ.get("RADBILL_ACCT_WRITE", "sql") == "spool" and acct_spool
    State.worker = Worker(url, State.snapshot, State.sessions, Spool(spool_path) if spool_path else None,
                          on_accounting=apply_accounting, on_peer_accounting=apply_peer_accounting,
                          acct_spool=AcctSpool(acct_spool) if spooled else None)
    State.worker.start()
    State.worker.connected.wait(float(os.environ.get("RADBILL_RADIUS_LOAD_WAIT", "15")))
    if not State.snapshot.loaded:
        log.warning("radbill snapshot not loaded yet; logins answer 'temporary problem' until it is")
    handover.wait_for_predecessor()
    return rlm.OK


def detach(_p=None):
    if State.worker is not None:
        State.worker.stop()
    handover.mark_detached()
    return rlm.OK


def authorize(p):
    """Answer from memory. Returns (rcode, {"reply", "config", "request"}): request:Radbill-Reason tells
    the post-auth log what the policy decided ("accept:ok", "reject:suspended", ...)."""
    try:
        decision = decide_for(request_values(p, AUTHORIZE_ATTRIBUTES))
    except Exception:
        log.exception("radbill authorize failed; rejecting")
        return rlm.REJECT, {"reply": to_tuples([("Reply-Message", MESSAGES["error"])]),
                            "request": (("Radbill-Reason", "reject:error"),)}
    verdict = ("Radbill-Reason", f"{'accept' if decision.accept else 'reject'}:{decision.reason}")
    return (rlm.UPDATED if decision.accept else rlm.REJECT,
            {"reply": to_tuples(decision.reply), "config": to_tuples(decision.config), "request": (verdict,)})


def decide_for(request: dict[str, str]):
    """The decision for one Access-Request, from memory only."""
    username = request.get("User-Name", "")
    if not State.snapshot.loaded:
        return Decision(False, "error", MESSAGES["error"], reply=(("Reply-Message", MESSAGES["error"]),))
    now = clock.now()
    row, asked = policy_inputs(State.snapshot.get(username), username, request.get("Calling-Station-Id"),
                               request.get("NAS-IP-Address"), State.sessions, now,
                               request.get("Radbill-Nas-Type") or DEFAULT_TYPE)
    return decide(row, asked, now, State.settings, explain=False)


def apply_accounting(rows, enforce: bool = True) -> None:
    """What a fold changed (radbill_fold_accounting, migration 0012): each Accounting-On/Off, then each changed
    session as radacct now holds it ('Interim-Update' = open, 'Stop' = closed by this fold), so the tracker
    never counts a session radacct calls closed. Keep the open sessions for simultaneous-use, and queue a
    disconnect (or CoA) for a session that should not be (or no longer be) fast.
    Each row: (status, username, acct_unique_id, nas_ip, acct_session_id, framed_ip, calling_station_id, octets)."""
    for status, username, unique_id, nas_ip, session_id, framed_ip, calling, octets in rows:
        try:
            account(status, username or "", unique_id, nas_ip or "", session_id, framed_ip, calling, int(octets),
                    enforce)
        except Exception:
            log.exception("radbill could not track %s for %r (radacct has it regardless)", status, username)


def apply_peer_accounting(rows) -> None:
    """What another RADIUS node folded (radius_module/peers.py), rows as for apply_accounting: tracked so that
    simultaneous-use and data caps count its sessions here too; the node that folded them sent any disconnect."""
    apply_accounting(rows, enforce=False)


def account(status: str, username: str, unique_id: str, nas_ip: str, session_id: str, framed_ip: str | None,
            calling: str | None, octets: int, enforce: bool = True) -> None:
    if status in ("Accounting-On", "Accounting-Off"):
        closed = State.sessions.close_nas(nas_ip)
        log.info("radbill: %s from %s closed %d sessions", status, nas_ip, closed)
        return
    if not username or not unique_id:
        return
    if status == "Stop":
        State.sessions.stop(unique_id, username, octets)
        return
    if status not in ("Start", "Interim-Update", "Alive"):
        return
    session = Session(username, nas_ip, session_id, framed_ip, clock.now(), octets)
    previous = State.sessions.touch(unique_id, session)
    if enforce:
        _enforce(username, unique_id, session, previous, calling)


def _enforce(username, unique_id, session, previous, calling: str | None) -> None:
    """A live session of a customer who may no longer be online -> disconnect; a crossed data cap -> CoA."""
    row = State.snapshot.get(username)
    if State.worker is None or not State.snapshot.loaded:
        return
    now = clock.now()
    check = decide(row, Request(username=username, calling_station_id=calling, nas_ip=session.nas_ip,
                                open_sessions=0), now, State.settings, explain=False)
    payload = {"username": username, "acct_session_id": session.acct_session_id, "acct_unique_id": unique_id,
               "nas_ip": session.nas_ip, "framed_ip": session.framed_ip}
    if not check.accept:
        State.worker.queue_outbox("disconnect", username, {**payload, "reason": check.reason},
                                  f"disconnect:{unique_id}:{check.reason}")
        return
    if row is not None and row.tiers:
        _enforce_cap(row, username, unique_id, session, previous, payload)


def _enforce_cap(row, username: str, unique_id: str, session, previous, payload: dict) -> None:
    """A session whose octets just moved usage into another tier: a CoA with that tier's rate for it, and the
    tier-crossed SMS once per tier per window (its dedupe key names both)."""
    closed = row.usage_bytes + State.sessions.closed_octets.get(username, 0)
    after = closed + State.sessions.open_octets(username)
    before = after - session.octets + (previous.octets if previous else 0)
    tier_before, tier = tier_for(row.tiers, before, row.topup_bytes), tier_for(row.tiers, after, row.topup_bytes)
    if tier == tier_before:
        return
    window = _window(row)
    speeds = speeds_for(row.speeds, row.tiers, tier)
    rate = speeds.rate_limit()
    # vendor-neutral speeds: the dispatcher writes them in the session's router's own attributes
    State.worker.queue_outbox("coa", username, {**payload, "reason": "data_cap", "tier": tier,
                                                "speeds": asdict(speeds)},
                              f"coa:data_cap:{unique_id}:{window}:{tier}:{row.topup_bytes}")
    if tier > tier_before and row.customer_id is not None:
        State.worker.queue_outbox("sms", username, {"event": "cap_tier_crossed", "customer_id": row.customer_id,
                                                    "tier": tier, "rate": rate, "usage_bytes": after},
                                  f"sms:cap_tier_crossed:{row.customer_id}:{window}:{tier}")


def _window(row) -> str:
    """The cap window in a CoA's dedupe key: a session crossing the cap again in the next window is throttled again."""
    return row.usage_resets_at.isoformat() if row.usage_resets_at is not None else ""
